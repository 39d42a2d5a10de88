import { z } from 'zod';

/** A run's env: names are checked by the secret service (422 naming the variable); here only the shape. */
export const EnvMap = z
  .record(z.string().min(1).max(128), z.union([z.string().max(32_768), z.strictObject({ secret: z.string().min(1).max(253) })]))
  .refine((env) => Object.keys(env).length <= 200, { message: 'at most 200 variables' });

/** The value is write-only: no response ever carries it. */
export const SecretPut = z.strictObject({
  value: z.string().min(1, 'must not be empty').max(65_536),
  description: z.string().max(1000).optional(),
});

/** A secret as the API shows it: its name and who changed it when, never its value. */
export const SecretView = z.object({
  name: z.string(),
  description: z.string(),
  createdBy: z.string().nullable(),
  updatedBy: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type SecretView = z.infer<typeof SecretView>;
