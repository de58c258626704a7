import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { testEngines, useServer } from '../helpers/server.js';
import {
  addNode,
  addUser,
  authHeaders,
  countUsers,
  EMAIL_DOMAIN,
  error,
  getNode,
  getToken,
  getUser,
  MAX_GENERATION,
  MAX_GENERATION_READ,
  NODE_ID,
  replacedUsers,
  resetTables,
  serviceId,
  startFakeFxa,
  tokenPayload,
  UNAUTHORIZED,
  type AuthOptions,
  type FakeFxa,
} from './support.js';

// The upstream tokenserver test catalogue (sync-storage.md 5.4), one test per row, with the
// upstream fixtures (5.2): a stand-in FxA verifying opaque tokens, users and nodes seeded
// straight into the tables, node 800 (https://example.com, 100 slots) before each test.

const fxa: FakeFxa = await startFakeFxa();
afterAll(() => fxa.close());

describe.each(await testEngines())('tokenserver catalogue (%s)', (engine) => {
  const server = useServer(engine, {
    FOXDEN_FXA_VERIFY_URL: `${fxa.url}/v1/verify`,
    FOXDEN_FXA_JWKS_URL: `${fxa.url}/v1/jwks`,
    FOXDEN_FXA_EMAIL_DOMAIN: EMAIL_DOMAIN,
    FOXDEN_FXA_OAUTH_REQUEST_TIMEOUT: 1,
  });
  const db = () => server.app.database.db;
  const get = (o: AuthOptions, path?: string) => getToken(server, authHeaders(o), path);
  /** A request that must succeed; returns the body. */
  const ok = async (o: AuthOptions, path?: string) => {
    const r = await get(o, path);
    expect(r.status, r.text).toBe(200);
    return r.json;
  };
  /** A request that must fail with `status`; returns the body. */
  const fails = async (status: number, o: AuthOptions, path?: string) => {
    const r = await get(o, path);
    expect(r.status, r.text).toBe(status);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    return r.json;
  };

  let sid = 0;
  beforeAll(async () => {
    sid = await serviceId(db());
  });
  beforeEach(() => resetTables(db()));

  describe('test_authorization', () => {
    it('test_unauthorized_error_status', async () => {
      const r = await getToken(server, { authorization: 'Unsupported-Auth-Scheme IHACKYOU' });
      expect(r.status).toBe(401);
      expect(r.json).toEqual(error('error', 'body', '', 'Unsupported'));
    });

    it('test_no_auth', async () => {
      const r = await getToken(server, {});
      expect(r.status).toBe(401);
      expect(r.json).toEqual(error('error', 'body', '', 'Unauthorized'));
    });

    it('test_invalid_client_state_in_key_id', async () => {
      const body = await fails(401, { keysChangedAt: 1234, clientState: 'aaaa', headers: { 'x-keyid': '1234-state!' } });
      expect(body).toEqual(UNAUTHORIZED('invalid-credentials'));
    });

    it('test_invalid_client_state_in_x_client_state', async () => {
      const body = await fails(400, { generation: 1234, keysChangedAt: 1234, clientState: 'aaaa', headers: { 'x-client-state': 'state!' } });
      expect(body).toEqual(error('error', 'header', 'X-Client-State', 'Invalid client state value'));
    });

    it('test_keys_changed_at_less_than_equal_to_generation', async () => {
      await addUser(db(), { generation: 1232, keys_changed_at: 1234 });
      // A keys_changed_at that moves must not pass the request's generation.
      expect(await fails(401, { generation: 1235, keysChangedAt: 1236 })).toEqual(UNAUTHORIZED('invalid-keysChangedAt'));
      // Unchanged keys_changed_at need not be below the generation.
      await ok({ generation: 1233, keysChangedAt: 1234 });
      // No generation at all is fine, and so is a keys_changed_at below the new generation.
      await ok({ generation: null, keysChangedAt: 1235 });
      await ok({ generation: 1236, keysChangedAt: 1235 });
    });

    it('test_disallow_reusing_old_client_state', async () => {
      await addUser(db(), { client_state: 'aaaa', replaced_at: 1200 });
      await addUser(db(), { client_state: 'bbbb' });
      expect(await fails(401, { generation: 1234, keysChangedAt: 1234, clientState: 'aaaa' })).toEqual(
        error('invalid-client-state', 'header', 'X-Client-State', 'Unacceptable client-state value stale value'),
      );
      const res1 = await ok({ generation: 1234, keysChangedAt: 1234, clientState: 'bbbb' });
      const res2 = await ok({ generation: 1235, keysChangedAt: 1235, clientState: 'cccc' });
      expect(res2.uid).not.toBe(res1.uid);
    });

    it('test_generation_change_must_accompany_client_state_change', async () => {
      await addUser(db(), { generation: 1234, client_state: 'aaaa' });
      const noGenerationChange = error('invalid-client-state', 'header', 'X-Client-State', 'Unacceptable client-state value new value with no generation change');
      expect(await fails(401, { generation: 1234, keysChangedAt: 1234, clientState: 'bbbb' })).toEqual(noGenerationChange);
      await ok({ generation: null, keysChangedAt: 1235, clientState: 'bbbb' });
      // That request set the generation to its keys_changed_at, 1235: 1235 is no change.
      expect(await fails(401, { generation: 1235, keysChangedAt: 1235, clientState: 'cccc' })).toEqual(noGenerationChange);
      await ok({ generation: 1236, keysChangedAt: 1236, clientState: 'cccc' });
    });

    it('test_keys_changed_at_change_must_accompany_client_state_change', async () => {
      await addUser(db(), { generation: 1234, keys_changed_at: 1234, client_state: 'aaaa' });
      expect(await fails(401, { generation: 1235, keysChangedAt: 1234, clientState: 'bbbb' })).toEqual(
        error('invalid-client-state', 'header', 'X-Client-State', 'Unacceptable client-state value new value with no keys_changed_at change'),
      );
      await ok({ generation: 1235, keysChangedAt: 1235, clientState: 'bbbb' });
    });

    it('test_generation_must_not_be_less_than_last_seen_value', async () => {
      const uid = await addUser(db(), { generation: 1234 });
      expect(await fails(401, { generation: 1233, keysChangedAt: 1234 })).toEqual(UNAUTHORIZED('invalid-generation'));
      await ok({ generation: null, keysChangedAt: 1234 });
      await ok({ generation: 1234, keysChangedAt: 1234 });
      const res = await ok({ generation: 1235, keysChangedAt: 1234 });
      expect(res.uid).toBe(uid);
    });

    it('test_set_generation_unchanged_without_keys_changed_at_update', async () => {
      const uid = await addUser(db(), { generation: 0, keys_changed_at: 1234 });
      await ok({ generation: null, keysChangedAt: 1234 });
      expect((await getUser(db(), uid)).generation).toBe(0);
      await ok({ generation: null, keysChangedAt: 1235 });
      expect((await getUser(db(), uid)).generation).toBe(1235);
    });

    it('test_set_generation_with_keys_changed_at_initialization', async () => {
      const uid = await addUser(db(), { generation: 0, keys_changed_at: null });
      await ok({ generation: null, keysChangedAt: 1234 });
      expect((await getUser(db(), uid)).generation).toBe(1234);
    });

    it('test_fxa_kid_change', async () => {
      await addUser(db(), { generation: 1234, keys_changed_at: null });
      // An OAuth client shows up and sets keys_changed_at.
      const token0 = tokenPayload((await ok({ generation: 1234, keysChangedAt: 1234 })).id);
      const lower = UNAUTHORIZED('invalid-keysChangedAt');
      expect(await fails(401, { generation: 1234, keysChangedAt: 1233 })).toEqual(lower);
      // A greater keys_changed_at without a new generation.
      expect(await fails(401, { generation: 1234, keysChangedAt: 2345, clientState: 'bbbb' })).toEqual(lower);
      await ok({ generation: 1234, keysChangedAt: 1234 });
      const token = tokenPayload((await ok({ generation: 2345, keysChangedAt: 2345, clientState: 'bbbb' })).id);
      expect(token.fxa_kid).toBe('0000000002345-u7s');
      expect(token.uid).not.toBe(token0.uid);
      expect(token.node).toBe(token0.node);
    });

    it('test_client_specified_duration', async () => {
      await addUser(db(), { generation: 1234, keys_changed_at: 1234 });
      const auth = { generation: 1234, keysChangedAt: 1234 };
      expect((await ok(auth, '/1.0/sync/1.5?duration=12')).duration).toBe(12);
      expect((await ok(auth, '/1.0/sync/1.5?duration=4000')).duration).toBe(3600);
      expect((await ok(auth, '/1.0/sync/1.5?duration=lolwut')).duration).toBe(3600);
      expect((await ok(auth, '/1.0/sync/1.5?duration=-1')).duration).toBe(3600);
      // The token's own expiry follows the duration.
      const short = await ok(auth, '/1.0/sync/1.5?duration=12');
      expect(tokenPayload(short.id).expires).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 12);
    });

    it('test_kid_change_during_gradual_tokenserver_rollout', async () => {
      const uid1 = await addUser(db(), { generation: 1234, keys_changed_at: null });
      const user1 = await getUser(db(), uid1);
      // An updated tokenserver records keys_changed_at without moving the user.
      let res = await ok({ generation: 1234, keysChangedAt: 1200 });
      let user2 = await getUser(db(), res.uid);
      expect(user2.uid).toBe(user1.uid);
      expect(user2.nodeid).toBe(user1.nodeid);
      expect(user2.generation).toBe(1234);
      expect(user2.keys_changed_at).toBe(1200);
      // A password reset, seen first by an old tokenserver that ignores keys_changed_at.
      const uid3 = await addUser(db(), { generation: 2345, keys_changed_at: 1200, client_state: 'bbbb' });
      const user3 = await getUser(db(), uid3);
      expect(user3.uid).not.toBe(user1.uid);
      expect(user3.nodeid).toBe(user1.nodeid);
      // An updated tokenserver accepts it without allocating again.
      res = await ok({ generation: 2345, keysChangedAt: 2345, clientState: 'bbbb' });
      user2 = await getUser(db(), res.uid);
      expect(user2.uid).toBe(user3.uid);
      expect(user2.nodeid).toBe(user3.nodeid);
    });

    it('test_update_client_state', async () => {
      const uid = await addUser(db(), { generation: 0, keys_changed_at: null, client_state: '' });
      const user1 = await getUser(db(), uid);
      expect(user1.generation).toBe(0);
      expect(user1.client_state).toBe('');
      const seen = new Set([uid]);
      let res = await ok({ generation: 1234, keysChangedAt: 1234, clientState: 'bbbb' });
      const user2 = await getUser(db(), res.uid);
      expect(seen.has(user2.uid)).toBe(false);
      expect(user2).toMatchObject({ nodeid: user1.nodeid, generation: 1234, keys_changed_at: 1234, client_state: 'bbbb' });
      seen.add(user2.uid);
      // A new client state without a generation: generation follows keys_changed_at.
      res = await ok({ generation: null, keysChangedAt: 1235, clientState: 'cccc' });
      const user3 = await getUser(db(), res.uid);
      expect(seen.has(user3.uid)).toBe(false);
      expect(user3).toMatchObject({ nodeid: user1.nodeid, generation: 1235, keys_changed_at: 1235, client_state: 'cccc' });
      expect(await fails(401, { generation: null, keysChangedAt: 1235, clientState: 'dddd' })).toEqual(
        error('invalid-client-state', 'header', 'X-Client-State', 'Unacceptable client-state value new value with no keys_changed_at change'),
      );
      expect(await fails(401, { generation: 1236, keysChangedAt: 1236, clientState: 'bbbb' })).toEqual(
        error('invalid-client-state', 'header', 'X-Client-State', 'Unacceptable client-state value stale value'),
      );
    });

    it('test_set_generation_from_no_generation', async () => {
      const uid = await addUser(db(), { generation: 0, keys_changed_at: null });
      await ok({ generation: 1234, keysChangedAt: 1234 });
      expect((await getUser(db(), uid)).generation).toBe(1234);
    });

    it('test_set_keys_changed_at_from_no_keys_changed_at', async () => {
      const uid = await addUser(db(), { generation: 1234, keys_changed_at: null });
      await ok({ generation: 1234, keysChangedAt: 1234 });
      expect((await getUser(db(), uid)).keys_changed_at).toBe(1234);
    });

    it('test_x_client_state_must_have_same_client_state_as_key_id', async () => {
      await addUser(db(), { client_state: 'aaaa' });
      const auth = { generation: 1234, keysChangedAt: 1234, clientState: 'aaaa' };
      expect(await fails(401, { ...auth, headers: { 'x-client-state': 'bbbb' } })).toEqual(UNAUTHORIZED('invalid-client-state'));
      await ok({ ...auth, headers: { 'x-client-state': 'aaaa' } });
    });

    it('test_zero_generation_treated_as_null', async () => {
      const uid = await addUser(db(), { generation: 1234, keys_changed_at: 1234 });
      await ok({ generation: 0, keysChangedAt: 1234 });
      expect((await getUser(db(), uid)).generation).toBe(1234);
    });

    it('test_zero_keys_changed_at_treated_as_null', async () => {
      const uid = await addUser(db(), { generation: 1234, keys_changed_at: null });
      await ok({ generation: 1234, keysChangedAt: 0 });
      expect((await getUser(db(), uid)).keys_changed_at).toBeNull();
    });
  });

  describe('test_misc', () => {
    it('test_unknown_app', async () => {
      const body = await fails(404, { generation: 1234, keysChangedAt: 1234 }, '/1.0/xXx/token');
      expect(body).toEqual(error('error', 'url', 'application', 'Unsupported application'));
    });

    it('test_unknown_version', async () => {
      const body = await fails(404, { generation: 1234, keysChangedAt: 1234 }, '/1.0/sync/1.2');
      expect(body).toEqual(error('error', 'url', '1.2', 'Unsupported application version'));
    });

    it('test_valid_app', async () => {
      await addUser(db());
      const res = await ok({ generation: 1234, keysChangedAt: 1234 });
      expect(res.api_endpoint).toContain('https://example.com/1.5');
      expect(res.duration).toBe(3600);
    });

    it('test_current_user_is_the_most_up_to_date', async () => {
      await addUser(db(), { generation: 1234, created_at: 1234 });
      await addUser(db(), { generation: 1235, created_at: 1234 });
      await addUser(db(), { generation: 1234, created_at: 1235 });
      const uid = await addUser(db(), { generation: 1236, created_at: 1233 });
      // Ordered by (generation, created_at), the fourth row is current.
      expect((await ok({ generation: 1236, keysChangedAt: 1234 })).uid).toBe(uid);
    });

    it('test_user_creation_when_most_current_user_is_replaced', async () => {
      const seen = [
        await addUser(db(), { generation: 1234, created_at: 1234 }),
        await addUser(db(), { generation: 1235, created_at: 1235 }),
        await addUser(db(), { generation: 1236, created_at: 1236, replaced_at: 1237 }),
      ];
      expect(seen).not.toContain((await ok({ generation: 1237, keysChangedAt: 1237 })).uid);
    });

    it('test_old_users_marked_as_replaced_in_race_recovery', async () => {
      const uid1 = await addUser(db(), { generation: 1234, created_at: 1234 });
      const uid2 = await addUser(db(), { generation: 1235, created_at: 1235 });
      const uid3 = await addUser(db(), { generation: 1236, created_at: 1240 });
      expect((await ok({ generation: 1236, keysChangedAt: 1236 })).uid).toBe(uid3);
      expect((await getUser(db(), uid1)).replaced_at).toBe(1240);
      expect((await getUser(db(), uid2)).replaced_at).toBe(1240);
    });

    it('test_user_updates_with_new_client_state', async () => {
      const uid = await addUser(db(), { generation: 1234, keys_changed_at: 1234, client_state: 'aaaa' });
      const res = await ok({ generation: 1235, keysChangedAt: 1235, clientState: 'bbbb' });
      expect(await countUsers(db())).toBe(2);
      expect(res.uid).not.toBe(uid);
      expect(await getUser(db(), res.uid)).toMatchObject({ generation: 1235, keys_changed_at: 1235, client_state: 'bbbb' });
      expect(await getUser(db(), uid)).toMatchObject({ generation: 1234, keys_changed_at: 1234, client_state: 'aaaa' });
      const replaced = await replacedUsers(db());
      expect(replaced).toHaveLength(1);
      expect(replaced[0]).toMatchObject({ generation: 1234, keys_changed_at: 1234, client_state: 'aaaa' });
    });

    it('test_user_updates_with_same_client_state', async () => {
      const uid = await addUser(db(), { generation: 1234, keys_changed_at: 1234 });
      const res = await ok({ generation: 1235, keysChangedAt: 1235, clientState: 'aaaa' });
      expect(await countUsers(db())).toBe(1);
      expect(res.uid).toBe(uid);
      expect(await getUser(db(), uid)).toMatchObject({ generation: 1235, keys_changed_at: 1235 });
    });

    it('test_retired_users_can_make_requests', async () => {
      const uid = await addUser(db(), { generation: MAX_GENERATION });
      expect((await getUser(db(), uid)).generation).toBe(MAX_GENERATION_READ);
      expect(await fails(401, { generation: 1235, keysChangedAt: 1234 })).toEqual(UNAUTHORIZED('invalid-generation'));
      const res = await ok({ generation: MAX_GENERATION, keysChangedAt: 1234 });
      expect(res.uid).toBe(uid);
      // Nothing moved: the exact 2^63 - 1 is still stored.
      const exact = await db()
        .selectFrom('users')
        .select('uid')
        .where('uid', '=', uid)
        .where('generation', '=', MAX_GENERATION as unknown as number)
        .executeTakeFirst();
      expect(exact?.uid).toBe(uid);
    });

    it('test_replaced_users_can_make_requests', async () => {
      await addUser(db(), { generation: 1234, created_at: 1234, replaced_at: 1234 });
      await ok({ generation: 1234, keysChangedAt: 1234 });
    });

    it('test_retired_users_with_no_node_cannot_make_requests', async () => {
      await addUser(db(), { generation: MAX_GENERATION, nodeid: NODE_ID + 1 });
      const body = await fails(500, { generation: MAX_GENERATION, keysChangedAt: 1234 });
      expect(body).toEqual(error('internal-error', 'internal', '', 'Server error'));
    });

    it('test_replaced_users_with_no_node_can_make_requests', async () => {
      await addUser(db(), { created_at: 1234, replaced_at: 1234, nodeid: NODE_ID + 1 });
      const res = await ok({ generation: 1234, keysChangedAt: 1234 });
      expect((await getUser(db(), res.uid)).nodeid).toBe(NODE_ID);
    });

    it('test_x_content_type_options', async () => {
      await addUser(db(), { generation: 1234, keys_changed_at: 1234 });
      const r = await get({ generation: 1234, keysChangedAt: 1234 });
      expect(r.status).toBe(200);
      expect(r.headers.get('x-content-type-options')).toBe('nosniff');
    });
  });

  describe('test_node_assignment', () => {
    it('test_user_creation', async () => {
      await addNode(db(), { available: 0, node: 'https://node1' });
      await addNode(db(), { available: 1, node: 'https://node2' });
      await addNode(db(), { available: 5, node: 'https://node3' });
      const res = await ok({ generation: 1234, keysChangedAt: 1234 });
      expect(await countUsers(db())).toBe(1);
      expect(await getUser(db(), res.uid)).toMatchObject({
        generation: 1234,
        keys_changed_at: 1234,
        client_state: 'aaaa',
        nodeid: NODE_ID,
        service: sid,
        email: `test@${EMAIL_DOMAIN}`,
        replaced_at: null,
      });
      expect(await getNode(db(), NODE_ID)).toMatchObject({ available: 99, current_load: 1 });
      await ok({ generation: 1234, keysChangedAt: 1234 });
      expect(await countUsers(db())).toBe(1);
    });

    it('test_new_user_allocation', async () => {
      await db().deleteFrom('nodes').execute();
      await addNode(db(), { available: 100, current_load: 0, capacity: 100, backoff: 1, node: 'https://node1' });
      await addNode(db(), { available: 100, current_load: 0, capacity: 100, downed: 1, node: 'https://node2' });
      const nodeId = await addNode(db(), { available: 99, current_load: 1, capacity: 100, node: 'https://node3' });
      await addNode(db(), { available: 98, current_load: 2, capacity: 100, node: 'https://node4' });
      await addNode(db(), { available: 97, current_load: 3, capacity: 100, node: 'https://node5' });
      const res = await ok({ generation: 1234, keysChangedAt: 1234 });
      expect((await getUser(db(), res.uid)).nodeid).toBe(nodeId);
      expect(await getNode(db(), nodeId)).toMatchObject({ current_load: 2, available: 98 });
    });

    it('test_successfully_releasing_node_capacity', async () => {
      await db().deleteFrom('nodes').execute();
      const id1 = await addNode(db(), { available: 0, current_load: 99, capacity: 100, node: 'https://node1' });
      const id2 = await addNode(db(), { available: 0, current_load: 90, capacity: 100, node: 'https://node2' });
      const id3 = await addNode(db(), { available: 0, current_load: 80, capacity: 81, node: 'https://node3' });
      const id4 = await addNode(db(), { available: 0, current_load: 70, capacity: 71, node: 'https://node4', backoff: 1 });
      const id5 = await addNode(db(), { available: 0, current_load: 60, capacity: 61, node: 'https://node5', downed: 1 });
      const res = await ok({ generation: 1234, keysChangedAt: 1234 });
      expect((await getUser(db(), res.uid)).nodeid).toBe(id2);
      expect((await getNode(db(), id1)).available).toBe(1); // min(100 * 0.1, 100 - 99)
      expect((await getNode(db(), id2)).available).toBe(9); // min(100 * 0.1, 100 - 90), minus the new user
      expect((await getNode(db(), id3)).available).toBe(1); // min(81 * 0.1, 81 - 80)
      expect((await getNode(db(), id4)).available).toBe(1); // backoff nodes are topped up too
      expect((await getNode(db(), id5)).available).toBe(0); // downed nodes are not
    });

    it('test_unsuccessfully_releasing_node_capacity', async () => {
      await db().deleteFrom('nodes').execute();
      await addNode(db(), { available: 0, current_load: 100, capacity: 100, node: 'https://node1' });
      await addNode(db(), { available: 0, current_load: 90, capacity: 90, node: 'https://node2' });
      await addNode(db(), { available: 0, current_load: 80, capacity: 80, node: 'https://node3' });
      const body = await fails(503, { generation: 1234, keysChangedAt: 1234 });
      expect(body).toEqual(error('internal-error', 'internal', '', 'Unexpected error: unable to get a node'));
    });
  });
});
