// Tests of pusherable.js and pusherable-presence.js against a fake pusher-js and DOM: the
// paths a real server cannot be made to take on cue (timers, orders of arrival, failures).
// The rest runs against real pusher-js and servers: tests/live/test_core_browser.py.
// Run with: node --test tests/js/
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');

const { CORE, CONFIG, load, plain } = require('./fakes');

const ARTICLE = 'private-article_1';
const PRESENCE = 'presence-article_1';

function presencePage(extra = {}) {
  const page = load({
    body: [{ channels: [PRESENCE], events: ['updated'], intent: 'viewing', callback: null }],
    ...extra,
  });
  page.pusher.connect('100.1');
  return page;
}

// Alice (1) on the page, authorized as pusher-js does; Bob (2) and Carol (3) already there.
async function joinedPresencePage(extra) {
  const page = presencePage(extra);
  await page.pusher.authorize(PRESENCE);
  page.pusher.channel(PRESENCE).succeed({
    me: '1',
    members: { 1: { name: 'Alice' }, 2: { name: 'Bob', intent: 'viewing' }, 3: { name: 'Carol' } },
  });
  return page;
}

// --- one connection, subscriptions, events ----------------------------------------------

test('warns once when pusherable_notify is missing, and still dispatches DOM events', () => {
  const page = load({ body: [{ channels: [ARTICLE], events: ['update'] }], notify: false });
  const channel = page.pusher.channel(ARTICLE);
  channel.trigger('update', {});
  channel.trigger('update', {});
  assert.equal(page.warnings.filter((w) => w.includes('pusherable_notify')).length, 1);
  assert.equal(page.dispatched.length, 2);
});

test('a failing handler does not stop the others', () => {
  const page = load({
    body: [
      { channels: [ARTICLE], events: ['update'], callback: 'broken' },
      { channels: [ARTICLE], events: ['update'] },
    ],
  });
  page.window.broken = () => {
    throw new Error('boom');
  };
  page.pusher.channel(ARTICLE).trigger('update', {});
  assert.equal(page.events('update').length, 1);
  assert.equal(page.errors.length, 1);
});

test('without pusher-js the page is told, not broken', () => {
  const page = load({ body: [{ channels: [ARTICLE], events: ['update'] }], noPusher: true });
  assert.deepEqual(page.events('pusherable:error').map((n) => n.data.reason), ['pusher_js_missing']);
  assert.equal(page.api.socketId(), null);
});

// --- authorization ------------------------------------------------------------------

test('a server-side subscription error carries its status', () => {
  const page = load({ body: [{ channels: [ARTICLE], events: ['update'] }] });
  page.pusher.channel(ARTICLE).fail({ type: 'AuthError', error: 'Invalid signature', status: 401 });
  const [error] = page.events('pusherable:error');
  assert.equal(error.data.reason, 'unauthenticated');
  assert.equal(error.data.message, 'Invalid signature');
});

test('without pusherable.urls private channels are skipped with a warning', () => {
  const page = load({
    config: { ...CONFIG, endpoints: { auth: null, userAuth: null, intent: null } },
    body: [
      { channels: [ARTICLE], events: ['update'] },
      { channels: ['article_1'], events: ['update'] },
    ],
  });
  assert.deepEqual(page.pusher.subscribeCalls, ['article_1']);
  assert.equal(page.warnings.filter((w) => w.includes(ARTICLE)).length, 1);
  assert.deepEqual(page.events('pusherable:error').map((n) => n.data.reason), ['no_auth_endpoint']);
  assert.equal(page.api.signin(), false);
});

// --- presence -----------------------------------------------------------------------

test('one entry per user however many tabs', async () => {
  const page = await joinedPresencePage();
  const channel = page.pusher.channel(PRESENCE);
  channel.memberAdded('4', { name: 'Dan' });
  channel.memberAdded('4', { name: 'Dan' }); // Dan's second tab, on a server that reports tabs
  channel.memberAdded('1', { name: 'Alice' }); // my own second tab
  assert.deepEqual(page.events('pusherable:joined').map((n) => n.data), [
    { channel: PRESENCE, member: { id: '4', info: { name: 'Dan' } } },
  ]);
  channel.memberRemoved('1'); // my other tab closing is not news either
  page.clock.tick(10000);
  assert.equal(page.events('pusherable:left').length, 0);
  assert.deepEqual(plain(page.api.members(PRESENCE)).map((m) => m.id), ['2', '3', '4']);
});

test('a leave is held for the grace period, then reported once', async () => {
  const page = await joinedPresencePage();
  page.pusher.channel(PRESENCE).memberRemoved('2');
  page.clock.tick(2999);
  assert.equal(page.events('pusherable:left').length, 0);
  page.clock.tick(1);
  assert.deepEqual(page.events('pusherable:left').map((n) => n.data), [
    { channel: PRESENCE, member: { id: '2', info: { name: 'Bob', intent: 'viewing' } } },
  ]);
  page.clock.tick(10000);
  assert.equal(page.events('pusherable:left').length, 1);
});

test('a reload that changes the intent reports only the intent', async () => {
  const page = await joinedPresencePage();
  const channel = page.pusher.channel(PRESENCE);
  channel.memberRemoved('2');
  channel.memberAdded('2', { name: 'Bob', intent: 'editing' });
  page.clock.tick(10000);
  assert.deepEqual(
    page.events().filter((n) => n.event !== 'pusherable:state').map((n) => n.event).slice(-1),
    ['pusherable:intent']
  );
  assert.equal(page.events('pusherable:left').length, 0);
  assert.equal(page.events('pusherable:joined').length, 0);
});

test('the grace period is configurable, zero means at once', async () => {
  const page = await joinedPresencePage({ config: { ...CONFIG, presenceGracePeriod: 0 } });
  page.pusher.channel(PRESENCE).memberRemoved('3');
  assert.equal(page.events('pusherable:left').length, 1);
});

test('after a reconnection only the difference is reported', async () => {
  const page = await joinedPresencePage();
  page.pusher.drop();
  page.pusher.connect('100.2');
  page.pusher.channel(PRESENCE).succeed({
    me: '1',
    members: { 1: { name: 'Alice' }, 3: { name: 'Carol' }, 5: { name: 'Eve' } },
  });
  assert.equal(page.events('pusherable:here').length, 1);
  assert.deepEqual(page.events('pusherable:joined').map((n) => n.data.member.id), ['5']);
  page.clock.tick(3000);
  assert.deepEqual(page.events('pusherable:left').map((n) => n.data.member.id), ['2']);
});

test('an intent that arrives before its member is applied on the join', async () => {
  const page = await joinedPresencePage();
  const channel = page.pusher.channel(PRESENCE);
  channel.trigger('pusherable:intent', { user_id: '6', intent: 'editing' });
  channel.memberAdded('6', { name: 'Frank', intent: 'viewing' });
  assert.deepEqual(page.events('pusherable:joined').at(-1).data.member, {
    id: '6',
    info: { name: 'Frank', intent: 'editing' },
  });
});

test('setIntent before the subscription is sent with the authorization', async () => {
  const page = presencePage();
  assert.equal(await page.api.setIntent(PRESENCE, 'editing'), null);
  assert.equal(page.fetchCalls.length, 0);
  await page.pusher.authorize(PRESENCE);
  assert.equal(page.fetchCalls[0].form.intent, 'editing');
});

test('a refused intent change reaches notify and rejects', async () => {
  const page = await joinedPresencePage({ respond: () => ({ status: 403, body: { error: 'No.' } }) });
  await assert.rejects(page.api.setIntent(PRESENCE, 'editing'), /No\./);
  assert.deepEqual(page.events('pusherable:error').map((n) => n.data), [
    { channel: PRESENCE, reason: 'forbidden', status: 403, message: 'No.', source: 'intent' },
  ]);
  await assert.rejects(page.api.setIntent('presence-unknown_1', 'editing'), /not subscribed/);
});

test('an intent changed while the authorization was on its way is sent once subscribed', async () => {
  const page = presencePage({ respond: () => ({ status: 200, body: { auth: 'k:s', channel_data: '{}' } }) });
  await page.pusher.authorize(PRESENCE); // sent with "viewing"
  const pending = page.api.setIntent(PRESENCE, 'editing'); // not subscribed yet: stored
  assert.equal(await pending, null);
  page.pusher.channel(PRESENCE).succeed({ me: '1', members: { 1: {} } });
  await page.settle();
  const last = page.fetchCalls.at(-1);
  assert.equal(last.url, '/pusherable/intent/');
  assert.equal(last.form.intent, 'editing');
});

// --- the protocol's facts come from the configuration ------------------------------------

test('channel types and reserved event prefixes come from config.protocol', async () => {
  const protocol = {
    prefixes: { private: 'priv~', presence: 'pres~', encrypted: 'priv~enc~' },
    protocolEventPrefixes: ['proto~'],
    libraryEventPrefix: 'lib~',
    clientEventPrefix: 'cli~',
  };
  const page = load({
    config: { ...CONFIG, protocol },
    body: [
      { channels: ['pres~article_1'], events: ['updated'], intent: 'editing' },
      { channels: ['open~article_1'], events: '*' },
    ],
    respond: () => ({ status: 200, body: { auth: 'k:s', channel_data: '{}' } }),
  });
  page.pusher.connect('1.1');
  // A presence channel by the configured prefix: its authorization carries the intent.
  await page.pusher.authorize('pres~article_1');
  assert.equal(page.fetchCalls[0].form.intent, 'editing');
  page.pusher.channel('pres~article_1').succeed({ me: '1', members: { 1: {}, 2: { name: 'Bob' } } });
  assert.deepEqual(page.events('pusherable:here')[0].data.members, [{ id: '2', info: { name: 'Bob' } }]);
  // Events with the configured reserved prefixes never reach '*'; 'pusher:' is not one here.
  const open = page.pusher.channel('open~article_1');
  open.trigger('proto~ping', {});
  open.trigger('lib~whatever', {});
  open.trigger('pusher:custom', {});
  open.trigger('view', {});
  assert.deepEqual(
    page.events().map((n) => n.event).filter((e) => !e.startsWith('pusherable:')),
    ['pusher:custom', 'view']
  );
});

test('without the protocol in the configuration the page is told, not guessed', () => {
  const { protocol, ...config } = CONFIG;
  const page = load({ config, body: [{ channels: [ARTICLE], events: ['update'] }] });
  assert.equal(page.FakePusher.instances.length, 0);
  assert.deepEqual(page.events('pusherable:error').map((n) => n.data.reason), ['configuration']);
  assert.ok(page.errors.some((e) => e.includes('"protocol"')));
});

test('the core without pusherable-http.js says so and does not start', () => {
  const core = CORE.filter((name) => name !== 'pusherable-http.js');
  const page = load({ core, body: [{ channels: [ARTICLE], events: ['update'] }] });
  assert.equal(page.FakePusher.instances.length, 0);
  assert.equal(page.window.pusherable, undefined);
  assert.ok(page.errors.some((e) => e.includes('load pusherable-http.js first')));
});

test('pusherable-http.js alone does not publish a half-built window.pusherable', () => {
  // Deferred scripts run one task apart: code polling for window.pusherable between
  // pusherable-http.js and pusherable.js must not find an object without the API.
  const page = load({ core: ['pusherable-http.js'] });
  assert.equal(page.window.pusherable, undefined);
  assert.equal(typeof page.window[page.window.Symbol.for('pusherable.http')].request, 'function');
});

test('the files loaded twice keep the first copy and its one connection', () => {
  const page = load({ core: CORE.concat(CORE), body: [{ channels: [ARTICLE], events: ['update'] }] });
  assert.equal(page.FakePusher.instances.length, 1);
  assert.equal(typeof page.api.http.request, 'function');
  assert.deepEqual(page.errors, []);
});
