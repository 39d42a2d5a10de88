import { NotFound, Unprocessable } from '../errors.ts';
import type { SecretMeta, SecretStore } from '../store/secretStore.ts';
import { SecretCipher } from './secretCrypto.ts';
import { envNameProblem, secretRefs, SECRET_NAME, type RunEnv } from '../domain/index.ts';

const NO_KEY_MESSAGE =
  'secrets are off: Griffin encrypts them with a key derived from GRIFFIN_SECRET, which is not set. Set GRIFFIN_SECRET (or GRIFFIN_SECRET_FILE) to the same value on every replica and restart';

/** A 422, as for a backend this server has not configured: the request is fine, this server cannot keep it. */
class SecretsNotConfigured extends Unprocessable {
  constructor() {
    super(NO_KEY_MESSAGE);
  }
}

/**
 * Named secrets (admin only) and their use in a run's env. Values are encrypted before they reach
 * the store and decrypted only for a launch; nothing here returns or logs them.
 */
export class SecretService {
  private readonly cipher: SecretCipher | undefined;

  /** `masterSecret` is GRIFFIN_SECRET as configured; the generated single-instance secret is not used, as it sits beside the database it would protect. */
  constructor(
    private readonly store: SecretStore,
    masterSecret: string | undefined,
  ) {
    this.cipher = masterSecret ? new SecretCipher(masterSecret) : undefined;
  }

  private checkName(name: string): void {
    if (!SECRET_NAME.test(name)) throw new Unprocessable(`secret name "${name}" must be 1 to 253 lowercase letters, digits, ".", "_" or "-", starting and ending with a letter or digit`, 'name');
  }

  async put(name: string, value: string, description: string | undefined, by: string | null): Promise<{ secret: SecretMeta; created: boolean }> {
    this.checkName(name);
    if (!this.cipher) throw new SecretsNotConfigured();
    return this.store.put(name, this.cipher.encrypt(name, value), description, by);
  }

  list(): Promise<SecretMeta[]> {
    return this.store.list();
  }

  async get(name: string): Promise<SecretMeta> {
    this.checkName(name);
    const secret = await this.store.get(name);
    if (!secret) throw new NotFound(`secret "${name}" does not exist`, 'name');
    return secret;
  }

  async delete(name: string): Promise<void> {
    this.checkName(name);
    if (!(await this.store.delete(name))) throw new NotFound(`secret "${name}" does not exist`, 'name');
  }

  /**
   * Refuses an env with a bad or reserved variable name, or a reference to a secret that does not
   * exist, naming the field (e.g. "spec.env.DB_PASSWORD").
   */
  async checkEnv(env: RunEnv | undefined, field: string): Promise<void> {
    if (!env) return;
    for (const name of Object.keys(env)) {
      const problem = envNameProblem(name);
      if (problem) throw new Unprocessable(`${field}.${name}: "${name}" ${problem}`, `${field}.${name}`);
    }
    const refs = secretRefs(env);
    if (!Object.keys(refs).length) return;
    if (!this.cipher) throw new Unprocessable(`${field}: references secrets, but ${NO_KEY_MESSAGE}`, field);
    const existing = await this.store.existing(Object.values(refs));
    for (const [variable, secret] of Object.entries(refs)) {
      if (!existing.has(secret)) throw new Unprocessable(`${field}.${variable}: secret "${secret}" does not exist; an admin creates it with PUT /api/v1/secrets/${secret}`, `${field}.${variable}`);
    }
  }

  /** `text` with the values of the env's secrets replaced by [redacted] (a failure reason read from a log). */
  async redact(env: RunEnv | undefined, text: string): Promise<string> {
    if (!Object.keys(secretRefs(env)).length) return text;
    const values = await this.resolve(env).catch(() => ({}) as Record<string, string>);
    return Object.values(values).reduce((out, value) => (value ? out.split(value).join('[redacted]') : out), text);
  }

  /** The secret variables of an env with their values, for a launch only. */
  async resolve(env: RunEnv | undefined): Promise<Record<string, string>> {
    const refs = secretRefs(env);
    if (!Object.keys(refs).length) return {};
    if (!this.cipher) throw new Error(NO_KEY_MESSAGE);
    const stored = await this.store.ciphertexts(Object.values(refs));
    const values: Record<string, string> = {};
    for (const [variable, secret] of Object.entries(refs)) {
      const ciphertext = stored.get(secret);
      if (ciphertext === undefined) throw new Error(`secret "${secret}" (env ${variable}) does not exist any more; set it again or change the run's env`);
      values[variable] = this.cipher.decrypt(secret, ciphertext);
    }
    return values;
  }
}
