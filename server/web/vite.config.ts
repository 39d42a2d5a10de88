import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

const here = path.dirname(fileURLToPath(import.meta.url));

// The service serves server/web/dist (server/app.ts mountWeb); `vite dev` proxies the API to a
// service on GRIFFIN_URL (default the README's http://127.0.0.1:8080) for working on the UI.
export default defineConfig({
  root: here,
  base: '/',
  plugins: [react()],
  build: {
    outDir: path.join(here, 'dist'),
    emptyOutDir: true,
    sourcemap: true,
    chunkSizeWarningLimit: 1024,
  },
  server: {
    proxy: { '/api': process.env.GRIFFIN_URL ?? 'http://127.0.0.1:8080' },
  },
});
