import { describe, expect, it } from 'vitest';
import { bytesToHex, passwordCredentials } from '../../src/crypto/onepw.js';
import { FxaClient } from '../helpers/fxa.js';
import { freshEmail } from '../helpers/oauth.js';
import { testEngines, useServer } from '../helpers/server.js';

// The account's locale comes from the sign-up's Accept-Language: its first real language tag.

describe.each(await testEngines())('account locale (%s)', (engine) => {
  const server = useServer(engine, { FOXDEN_REGISTRATION: 'open', FOXDEN_RATE_LIMITS: 'off' });

  it.each([
    ['fr-CA, fr;q=0.8, en;q=0.5', 'fr-CA'],
    ['de', 'de'],
    ['*', null],
    ['', null],
    ['<script>', null],
    ['en-US-x-twain-extra-long-subtag-list-and-more', 'en-US-x-twain-extra-long-subtag'],
  ])('Accept-Language %j gives %j', async (header, locale) => {
    const email = freshEmail('locale');
    const { authPW } = await passwordCredentials(email, 'correct horse battery');
    const res = await new FxaClient(server.url).call('POST', '/account/create', { email, authPW: bytesToHex(authPW) }, { headers: { 'accept-language': header } });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const row = await server.app.database.db.selectFrom('accounts').select('locale').where('uid', '=', res.body.uid).executeTakeFirstOrThrow();
    expect(row.locale).toBe(locale);
  });
});
