import crypto from 'node:crypto';

/*
 * Secret values at rest: AES-256-GCM under a key derived (HKDF-SHA256) from GRIFFIN_SECRET, a
 * fresh 96-bit nonce per value, and the secret's name as additional data so a stored value cannot
 * be moved under another name. The stored form names the key by a fingerprint, so a service
 * started with a different GRIFFIN_SECRET says so instead of failing on garbage.
 */

const VERSION = 'v1';
// Fixed so that every replica sharing GRIFFIN_SECRET derives the same key; distinct from the run-token use of the same secret.
const HKDF_SALT = 'griffin/secrets/salt/v1';
const HKDF_INFO = 'griffin/secrets/aes-256-gcm/v1';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export class SecretKeyMismatch extends Error {}

export class SecretCipher {
  private readonly key: Buffer;
  /** Identifies the key without revealing it: the first bytes of a hash of the derived key. */
  readonly keyId: string;

  constructor(masterSecret: string) {
    this.key = Buffer.from(crypto.hkdfSync('sha256', Buffer.from(masterSecret, 'utf8'), HKDF_SALT, HKDF_INFO, 32));
    this.keyId = crypto.createHash('sha256').update(this.key).digest('hex').slice(0, 16);
  }

  encrypt(name: string, value: string): string {
    const nonce = crypto.randomBytes(NONCE_BYTES);
    const cipher = crypto.createCipheriv('aes-256-gcm', this.key, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(name, 'utf8'));
    const body = Buffer.concat([cipher.update(value, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return [VERSION, this.keyId, nonce.toString('base64'), body.toString('base64')].join(':');
  }

  decrypt(name: string, stored: string): string {
    const [version, keyId, nonceText, bodyText] = stored.split(':');
    if (version !== VERSION || !nonceText || !bodyText) throw new Error(`secret "${name}" is stored in an unknown format`);
    if (keyId !== this.keyId) throw new SecretKeyMismatch(`secret "${name}" was encrypted under a different GRIFFIN_SECRET; set the one it was stored with, or set the secret again`);
    const body = Buffer.from(bodyText, 'base64');
    const decipher = crypto.createDecipheriv('aes-256-gcm', this.key, Buffer.from(nonceText, 'base64'), { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(name, 'utf8'));
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
    return Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()]).toString('utf8');
  }
}
