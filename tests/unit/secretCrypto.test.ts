import { describe, expect, it } from 'vitest';
import { SecretCipher, SecretKeyMismatch } from '../../server/services/secretCrypto.ts';

describe('secret encryption at rest', () => {
  const cipher = new SecretCipher('master-one');

  it('round-trips, with a fresh nonce per value (the same value encrypts differently)', () => {
    const a = cipher.encrypt('db', 'hunter2 ünïcode');
    const b = cipher.encrypt('db', 'hunter2 ünïcode');
    expect(a).not.toBe(b);
    expect(a).not.toContain('hunter2');
    expect(cipher.decrypt('db', a)).toBe('hunter2 ünïcode');
    expect(new SecretCipher('master-one').decrypt('db', b)).toBe('hunter2 ünïcode');
  });

  it('refuses a value moved under another name, a tampered value, and another GRIFFIN_SECRET', () => {
    const stored = cipher.encrypt('db', 'value');
    expect(() => cipher.decrypt('other', stored)).toThrow();
    const parts = stored.split(':');
    const body = Buffer.from(parts[3], 'base64');
    body[0] ^= 1;
    expect(() => cipher.decrypt('db', [...parts.slice(0, 3), body.toString('base64')].join(':'))).toThrow();
    expect(() => new SecretCipher('master-two').decrypt('db', stored)).toThrow(SecretKeyMismatch);
    expect(() => new SecretCipher('master-two').decrypt('db', stored)).toThrow(/different GRIFFIN_SECRET/);
  });
});
