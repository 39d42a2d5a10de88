import { z } from 'zod';

export const SecretParams = z.object({ name: z.string().min(1).max(300) });
