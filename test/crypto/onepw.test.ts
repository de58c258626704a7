import { describe, expect, it } from 'vitest';
import { deriveToken } from '../../src/crypto/fxa-tokens.js';
import {
  bundleKeysFor,
  bytesToHex,
  deriveTokenKeys,
  hexToBytes,
  passwordCredentials,
  unbundleKeys,
  unwrapKb,
} from '../../src/crypto/onepw.js';
import { deriveFromBigStretched, ScryptPool, ServerBusyError, scryptOnce, xorBuffers } from '../../src/crypto/verifier.js';

// Vectors from fxa-auth.md 2.2-2.5 (the official onepw vectors, andré@example.org / pässwörd).

const range = (from: number, to: number) => Buffer.from(Array.from({ length: to - from + 1 }, (_, i) => from + i));
const V = {
  email: 'andr\u00e9@example.org',
  password: 'p\u00e4ssw\u00f6rd',
  quickStretchedPW: 'e4e8889bd8bd61ad6de6b95c059d56e7b50dacdaf62bd84644af7e2add84345d',
  authPW: '247b675ffb4c46310bc87e26d712153abe5e1c90ef00a4784594f97ef54f2375',
  unwrapBKey: 'de6a2648b78284fcb9ffa81ba95803309cfba7af583c01a8a1a63e567234dd28',
  authSalt: '00f0000000000000000000000000000000000000000000000000000000000000',
  bigStretchedPW: '441509e25c92ee103d5a1a874e6f155df25a44d06e61c894616c9e85181dba97',
  verifyHash: 'a4765bf103dc057f4cf4bc2c131ddb6716e8a4333cc55e1d3c449f31f0eec4f1',
  wrapwrapKey: '3ebea117efa9faf57ce195899b2905058368e7760cc26ea58a2a1be0da7fb287',
  wrapWrapKb: '404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f',
  wrapKb: '7effe354abecbcb234a8dfc2d7644b4ad339b525589738f2d27341bb8622ecd8',
  kA: '202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f',
  kB: 'a095c51c1c6e384e8d5777d97e3c487a4fc2128a00ab395a73d57fedf41631f0',
};

describe('onepw client side (WebCrypto)', () => {
  it('stretches the official vector into quickStretchedPW, authPW and unwrapBKey', async () => {
    const c = await passwordCredentials(V.email, V.password);
    expect(bytesToHex(c.quickStretchedPW)).toBe(V.quickStretchedPW);
    expect(bytesToHex(c.authPW)).toBe(V.authPW);
    expect(bytesToHex(c.unwrapBKey)).toBe(V.unwrapBKey);
  });

  it('uses the e-mail exactly as given: another case gives another authPW', async () => {
    const c = await passwordCredentials(V.email.toUpperCase(), V.password);
    expect(bytesToHex(c.authPW)).not.toBe(V.authPW);
  });

  it('unwraps kB from wrapKb', () => {
    expect(bytesToHex(unwrapKb(hexToBytes(V.wrapKb), hexToBytes(V.unwrapBKey)))).toBe(V.kB);
  });

  it('rejects malformed hex', () => {
    expect(() => hexToBytes('abc')).toThrow();
    expect(() => hexToBytes('zz')).toThrow();
  });
});

describe('onepw server side (scrypt verifier)', () => {
  it('computes bigStretchedPW, verifyHash, wrapwrapKey and wrapKb of the official vector', async () => {
    const big = await scryptOnce(Buffer.from(V.authPW, 'hex'), Buffer.from(V.authSalt, 'hex'));
    expect(big.toString('hex')).toBe(V.bigStretchedPW);
    const s = deriveFromBigStretched(big);
    expect(s.verifyHash.toString('hex')).toBe(V.verifyHash);
    expect(s.wrapwrapKey.toString('hex')).toBe(V.wrapwrapKey);
    expect(xorBuffers(Buffer.from(V.wrapWrapKb, 'hex'), s.wrapwrapKey).toString('hex')).toBe(V.wrapKb);
  });

  it('the pool gives the same answer and sheds load past its wait budget', async () => {
    const pool = new ScryptPool(1, 300);
    const pw = Buffer.from(V.authPW, 'hex');
    const salt = Buffer.from(V.authSalt, 'hex');
    const results = await Promise.allSettled([pool.stretch(pw, salt), pool.stretch(pw, salt), pool.stretch(pw, salt), pool.stretch(pw, salt)]);
    const ok = results.filter((r) => r.status === 'fulfilled') as PromiseFulfilledResult<{ verifyHash: Buffer }>[];
    const busy = results.filter((r) => r.status === 'rejected');
    expect(ok.length).toBeGreaterThanOrEqual(1);
    for (const r of ok) expect(r.value.verifyHash.toString('hex')).toBe(V.verifyHash);
    expect(busy.length).toBeGreaterThanOrEqual(1);
    for (const r of busy) {
      const err = (r as PromiseRejectedResult).reason;
      expect(err).toBeInstanceOf(ServerBusyError);
      expect(err.retryAfter).toBeGreaterThanOrEqual(1);
    }
    expect(pool.pending).toBe(0);
  });
});

describe('token derivation (fxa-auth.md 2.4)', () => {
  const cases: [Buffer, Parameters<typeof deriveToken>[1], string, string, string][] = [
    [range(0x80, 0x9f), 'keyFetchToken', '3d0a7c02a15a62a2882f76e39b6494b500c022a8816e048625a495718998ba60', '87b8937f61d38d0e29cd2d5600b3f4da0aa48ac41de36a0efe84bb4a9872ceb7', '14f338a9e8c6324d9e102d4e6ee83b209796d5c74bb734a410e729e014a4a546'],
    [range(0xa0, 0xbf), 'sessionToken', 'c0a29dcf46174973da1378696e4c82ae10f723cf4f4d9f75e39f4ae3851595ab', '9d8f22998ee7f5798b887042466b72d53e56ab0c094388bf65831f702d2febc0', '37e3fceb754cb57362a8bd60a2f2344a7c285d17ddb2b57733640ce6d1b6a7a8'],
    [range(0xc0, 0xdf), 'accountResetToken', '46ec557e56e531a058620e9344ca9c75afac0d0bcbdd6f8c3c2f36055d9540cf', '716ebc28f5122ef48670a48209190a1605263c3188dfe45256265929d1c45e48', 'aa5906d2318c6e54ecebfa52f10df4c036165c230cc78ee859f546c66ea3c126'],
    [range(0xc0, 0xdf), 'passwordForgotToken', 'f0ca18eebfd49497cdd9df89233db5919a0c659e868cc14d6d57eafb153400af', 'e9de3536e926e6ae4c31cbeb065675795ab10bfda051c82e21958f0933d3a632', '839dc444c864cb1341b0be3252fd4c17222bdbe9d342147c0ccebced0b4ac12c'],
    [range(0xc0, 0xdf), 'passwordChangeToken', 'b61211a8d98a48e91588e6ac3bf5fd49a843c85cac4cb9043d61c3c0741ba939', 'c3198323e4237616161ba0372cfe718b7da3a7cd3e795d0db3614e860390ef59', 'fe6a2097cf038bf5ef28e0649e9603de06cf42674821e8f82da78a88f8d46896'],
  ];
  it.each(cases)('%#: %s', async (data, type, id, authKey, bundleKey) => {
    const server = deriveToken(data, type);
    expect([server.id, server.authKey, server.bundleKey]).toEqual([id, authKey, bundleKey]);
    const client = await deriveTokenKeys(new Uint8Array(data), type);
    expect([bytesToHex(client.tokenId), bytesToHex(client.authKey), bytesToHex(client.bundleKey)]).toEqual([id, authKey, bundleKey]);
  });
});

describe('/account/keys bundle (fxa-auth.md 2.5)', () => {
  const bundleKey = hexToBytes('14f338a9e8c6324d9e102d4e6ee83b209796d5c74bb734a410e729e014a4a546');
  const bundle =
    'ee5c58845c7c9412b11bbd20920c2fddd83c33c9cd2c2de2d66b222613364636fc7e59d854d599f10e212801de3a47c34333f3b838ee3471e0f285649c332bbb' +
    '4c17f42a0b319bbba327d2b326ad23e937219b4de32e3ec7b3e3f740522ad6ef';

  it('builds the official bundle from kA and wrapKb', async () => {
    expect(await bundleKeysFor(bundleKey, { kA: hexToBytes(V.kA), wrapKb: hexToBytes(V.wrapKb) })).toBe(bundle);
  });

  it('opens it again, and refuses a tampered one', async () => {
    const keys = await unbundleKeys(bundleKey, bundle);
    expect(bytesToHex(keys.kA)).toBe(V.kA);
    expect(bytesToHex(keys.wrapKb)).toBe(V.wrapKb);
    const tampered = (bundle[0] === 'e' ? 'f' : 'e') + bundle.slice(1);
    await expect(unbundleKeys(bundleKey, tampered)).rejects.toThrow(/MAC/);
    await expect(unbundleKeys(bundleKey, bundle.slice(2))).rejects.toThrow(/length/);
  });
});

describe('scrypt in a lower-priority child process', () => {
  it('computes the official vector, starts on demand, and fails pending work when closed', async () => {
    const { ScryptProcess } = await import('../../src/crypto/scrypt-process.js');
    const { SCRYPT } = await import('../../src/crypto/verifier.js');
    const child = new ScryptProcess(SCRYPT);
    const pool = new ScryptPool(2, 5000, (pw, salt) => child.run(pw, salt));
    const [a, b] = await Promise.all([
      pool.stretch(Buffer.from(V.authPW, 'hex'), Buffer.from(V.authSalt, 'hex')),
      pool.stretch(Buffer.from(V.authPW, 'hex'), Buffer.from(V.authSalt, 'hex')),
    ]);
    expect(a.verifyHash.toString('hex')).toBe(V.verifyHash);
    expect(b.wrapwrapKey.toString('hex')).toBe(V.wrapwrapKey);
    const pending = child.run(Buffer.from(V.authPW, 'hex'), Buffer.from(V.authSalt, 'hex'));
    child.close();
    await expect(pending).rejects.toThrow(/closed/);
    await expect(child.run(Buffer.alloc(32), Buffer.alloc(32))).rejects.toThrow(/closed/);
  });
});

describe('Hawk with an FxA session token (fxa-auth.md 3.1 vectors)', () => {
  const session = deriveToken(range(0xa0, 0xbf), 'sessionToken');
  const origin = { host: 'accounts.example.com', port: 443 };
  const attrs = { ts: '1700000000', nonce: 'AAECAwQFBgc=' };

  it('signs POST /v1/account/scoped-key-data with a payload hash', async () => {
    const { computeMac, payloadHash } = await import('../../src/crypto/hawk.js');
    const body = '{"client_id":"5882386c6d801776","scope":"https://identity.mozilla.com/apps/oldsync"}';
    const hash = payloadHash('application/json; charset=utf-8', body);
    expect(hash).toBe('91iGP8X9DMBWl5/vi0NpLA1NsMoXsq9SXP1cv/RzID0=');
    const mac = computeMac(Buffer.from(session.authKey, 'hex'), { method: 'POST', resource: '/v1/account/scoped-key-data', ...origin }, { ...attrs, hash });
    expect(mac).toBe('6LqENVIO+cCHFENrjyK4ELlQU+lKifEGpGfrYIRZqmw=');
  });

  it('signs GET /v1/session/status without one', async () => {
    const { computeMac } = await import('../../src/crypto/hawk.js');
    const mac = computeMac(Buffer.from(session.authKey, 'hex'), { method: 'GET', resource: '/v1/session/status', ...origin }, attrs);
    expect(mac).toBe('Hg2x+5qFkjWUWJnfB4omaOPMhDw7PWocOnTcTSoEofE=');
  });
});
