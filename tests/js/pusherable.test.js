// Tests of pusherable/static/pusherable/pusherable.js against a fake pusher-js and DOM.
// Run with: node --test tests/js/
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');

const { CONFIG, load, plain } = require('./fakes');

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

test('one Pusher instance configured from the page config', () => {
  const page = load({ body: [{ channels: [ARTICLE], events: ['update'] }] });
  assert.equal(page.FakePusher.instances.length, 1);
  assert.equal(page.pusher.key, 'test-key');
  const options = page.pusher.options;
  assert.equal(options.cluster, 'mt1');
  assert.equal(options.wsHost, '127.0.0.1');
  assert.equal(options.forceTLS, false);
  assert.equal(options.channelAuthorization.endpoint, '/pusherable/auth/');
  assert.equal(typeof options.channelAuthorization.customHandler, 'function');
  assert.equal(options.userAuthentication.endpoint, '/pusherable/user-auth/');
  assert.equal(typeof options.userAuthentication.customHandler, 'function');
  assert.equal(page.api.version, '1.0.0');
  assert.equal(page.api.config.csrfToken, 'csrf-token');
});

test('multiple subscriptions share one connection and each gets its events', () => {
  const seen = [];
  const page = load({
    body: [
      { channels: [ARTICLE], events: ['update'] },
      { channels: [ARTICLE], events: ['updated', 'deleted'], callback: 'app.onArticle' },
      { channels: ['private-article_2'], events: ['update'] },
      { channels: [ARTICLE], events: ['update'] }, // the same tag twice: delivered once
    ],
  });
  page.window.app = { onArticle: (event, data, meta) => seen.push([event, plain(data), meta.channel]) };
  assert.equal(page.FakePusher.instances.length, 1);
  assert.deepEqual(page.pusher.subscribeCalls, [ARTICLE, 'private-article_2']);

  const channel = page.pusher.channel(ARTICLE);
  channel.trigger('update', { pk: 1 });
  channel.trigger('updated', { pk: 1, changed: { title: 'New' } });
  channel.trigger('created', { pk: 1 }); // nobody asked for it
  page.pusher.channel('private-article_2').trigger('update', { pk: 2 });

  assert.deepEqual(
    page.events().map((n) => [n.event, n.data, n.channel]),
    [
      ['update', { pk: 1 }, ARTICLE],
      ['update', { pk: 2 }, 'private-article_2'],
    ]
  );
  assert.deepEqual(seen, [['updated', { pk: 1, changed: { title: 'New' } }, ARTICLE]]);
});

test("'*' receives every event of the channel but not protocol events", () => {
  const page = load({ body: [{ channels: [ARTICLE], events: '*' }] });
  page.pusher.connect('1.1');
  const channel = page.pusher.channel(ARTICLE);
  channel.succeed();
  channel.trigger('view', { a: 1 });
  channel.trigger('something-custom', { b: 2 });
  channel.trigger('pusher:cache_miss', {});
  channel.trigger('pusherable:intent', { user_id: '2', intent: 'editing' }); // not presence: ignored
  assert.deepEqual(
    page.events().filter((n) => !n.event.startsWith('pusherable:')).map((n) => n.event),
    ['view', 'something-custom']
  );
  assert.deepEqual(page.events('pusherable:subscribed').map((n) => n.data), [{ channel: ARTICLE }]);
});

test('every notification is also a pusherable:notify DOM event', () => {
  const page = load({ body: [{ channels: [ARTICLE], events: ['update'] }] });
  page.pusher.channel(ARTICLE).trigger('update', { pk: 1 });
  const dom = page.document.dispatched.filter((e) => e.type === 'pusherable:notify');
  assert.deepEqual(plain(dom.at(-1).detail), { event: 'update', data: { pk: 1 }, channel: ARTICLE });
});

test('warns once when pusherable_notify is missing, and still dispatches DOM events', () => {
  const page = load({ body: [{ channels: [ARTICLE], events: ['update'] }], notify: false });
  const channel = page.pusher.channel(ARTICLE);
  channel.trigger('update', {});
  channel.trigger('update', {});
  assert.equal(page.warnings.filter((w) => w.includes('pusherable_notify')).length, 1);
  assert.equal(page.document.dispatched.filter((e) => e.type === 'pusherable:notify').length, 2);
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

test('subscriptions added to the page later are picked up, removed ones are left', async () => {
  const page = load({ body: [] });
  page.pusher.connect('1.1');
  const element = page.subscription({ channels: [ARTICLE], events: ['update'] });
  const wrapper = page.h('div', {}, [element]);
  page.document.body.appendChild(wrapper);
  await page.settle();
  assert.deepEqual(page.pusher.subscribeCalls, [ARTICLE]);
  page.pusher.channel(ARTICLE).trigger('update', { pk: 1 });
  assert.equal(page.events('update').length, 1);

  page.document.body.removeChild(wrapper);
  await page.settle();
  assert.deepEqual(page.pusher.unsubscribed, [ARTICLE]);
});

test('programmatic subscribe with a function callback, and unsubscribe', () => {
  const page = load({ body: [] });
  const got = [];
  const handle = page.api.subscribe({ channel: ARTICLE, events: 'update updated', callback: (e) => got.push(e) });
  assert.deepEqual(plain(handle.events), ['update', 'updated']);
  page.pusher.channel(ARTICLE).trigger('updated', {});
  handle.unsubscribe();
  assert.deepEqual(got, ['updated']);
  assert.deepEqual(page.pusher.unsubscribed, [ARTICLE]);
});

test('connection state changes are reported', () => {
  const page = load({ body: [] });
  page.pusher.connect('5.5');
  assert.deepEqual(
    page.events('pusherable:state').map((n) => n.data),
    [
      { previous: 'initialized', current: 'connecting', socketId: null },
      { previous: 'connecting', current: 'connected', socketId: '5.5' },
    ]
  );
  assert.equal(page.api.state(), 'connected');
});

test('without pusher-js the page is told, not broken', () => {
  const page = load({ body: [{ channels: [ARTICLE], events: ['update'] }], noPusher: true });
  assert.deepEqual(page.events('pusherable:error').map((n) => n.data.reason), ['pusher_js_missing']);
  assert.equal(page.api.socketId(), null);
});

// --- authorization ------------------------------------------------------------------

test('channel authorization posts the CSRF token, socket id and intent', async () => {
  const page = load({
    body: [{ channels: [PRESENCE], events: ['update'], intent: 'editing' }],
    respond: () => ({ status: 200, body: { auth: 'key:sig', channel_data: '{"user_id":"1"}' } }),
  });
  page.pusher.connect('123.456');
  const result = await page.pusher.authorize(PRESENCE);
  assert.equal(result.error, null);
  assert.deepEqual(plain(result.data), { auth: 'key:sig', channel_data: '{"user_id":"1"}' });
  const [call] = page.fetchCalls;
  assert.equal(call.url, '/pusherable/auth/');
  assert.equal(call.method, 'POST');
  assert.equal(call.credentials, 'same-origin');
  assert.deepEqual(call.form, { socket_id: '123.456', channel_name: PRESENCE, intent: 'editing' });
  assert.equal(call.headers['X-CSRFToken'], 'csrf-token');
  assert.equal(call.headers['X-Socket-ID'], '123.456');
  assert.equal(call.headers['Content-Type'], 'application/x-www-form-urlencoded');
});

test('private channels send no intent', async () => {
  const page = load({ body: [{ channels: [ARTICLE], events: ['update'] }] });
  page.pusher.connect('1.2');
  await page.pusher.authorize(ARTICLE);
  assert.deepEqual(page.fetchCalls[0].form, { socket_id: '1.2', channel_name: ARTICLE });
});

test('a refused subscription reaches notify as pusherable:error with a reason', async () => {
  const page = load({
    body: [{ channels: [ARTICLE], events: ['update'] }],
    respond: () => ({ status: 403, body: { error: 'You may not see this article.' } }),
  });
  page.pusher.connect('1.2');
  const result = await page.pusher.authorize(ARTICLE);
  assert.equal(result.error.status, 403);
  // pusher-js then emits pusher:subscription_error on the channel.
  page.pusher.channel(ARTICLE).fail({ type: 'AuthError', error: result.error.message });
  assert.deepEqual(page.events('pusherable:error').map((n) => n.data), [
    {
      channel: ARTICLE,
      reason: 'forbidden',
      status: 403,
      message: 'You may not see this article.',
      source: 'subscribe',
    },
  ]);
});

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

test('signin uses the user authentication endpoint', async () => {
  const page = load({ body: [], respond: () => ({ status: 200, body: { auth: 'a', user_data: '{}' } }) });
  page.pusher.connect('9.9');
  assert.equal(page.api.signin(), true);
  assert.equal(page.pusher.signedIn, true);
  const answer = await new Promise((resolve) =>
    page.pusher.options.userAuthentication.customHandler({ socketId: '9.9' }, (error, data) =>
      resolve({ error, data })
    )
  );
  assert.equal(answer.error, null);
  assert.deepEqual(page.fetchCalls[0].form, { socket_id: '9.9' });
  assert.equal(page.fetchCalls[0].url, '/pusherable/user-auth/');
});

// --- presence -----------------------------------------------------------------------

test('here lists the others, not me', async () => {
  const page = await joinedPresencePage();
  const [here] = page.events('pusherable:here');
  assert.deepEqual(here.data, {
    channel: PRESENCE,
    members: [
      { id: '2', info: { name: 'Bob', intent: 'viewing' } },
      { id: '3', info: { name: 'Carol' } },
    ],
    me: { id: '1', info: { name: 'Alice' } },
  });
  assert.deepEqual(plain(page.api.me(PRESENCE)), { id: '1', info: { name: 'Alice' } });
  assert.deepEqual(plain(page.api.members(PRESENCE)).map((m) => m.id), ['2', '3']);
});

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

test('a reload (leave then join of the same user) shows nothing', async () => {
  const page = await joinedPresencePage();
  const before = page.notifications.length;
  const channel = page.pusher.channel(PRESENCE);
  channel.memberRemoved('2');
  page.clock.tick(800);
  channel.memberAdded('2', { name: 'Bob', intent: 'viewing' });
  page.clock.tick(10000);
  assert.equal(page.notifications.length, before);
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

test('the intent event updates the member and reaches notify', async () => {
  const page = await joinedPresencePage();
  const channel = page.pusher.channel(PRESENCE);
  channel.trigger('pusherable:intent', { user_id: '2', intent: 'editing' });
  channel.trigger('pusherable:intent', { user_id: 1, intent: 'editing' }); // me: no news
  assert.deepEqual(page.events('pusherable:intent').map((n) => n.data), [
    { channel: PRESENCE, member: { id: '2', info: { name: 'Bob', intent: 'editing' } }, intent: 'editing' },
  ]);
  assert.equal(plain(page.api.members(PRESENCE))[0].info.intent, 'editing');
  assert.equal(plain(page.api.me(PRESENCE)).info.intent, 'editing');
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

test('setIntent posts to the intent endpoint', async () => {
  const page = await joinedPresencePage({ respond: () => ({ status: 200, body: { ok: true } }) });
  const answer = await page.api.setIntent(PRESENCE, 'editing');
  assert.deepEqual(plain(answer), { ok: true });
  const call = page.fetchCalls.at(-1);
  assert.equal(call.url, '/pusherable/intent/');
  assert.deepEqual(call.form, { socket_id: '100.1', channel_name: PRESENCE, intent: 'editing' });
  assert.equal(call.headers['X-CSRFToken'], 'csrf-token');
  assert.equal(call.headers['X-Socket-ID'], '100.1');
  // A later authorization (a reconnection) carries the new intent.
  await page.pusher.authorize(PRESENCE);
  assert.equal(page.fetchCalls.at(-1).form.intent, 'editing');
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

test('a subscription added after joining catches up with here', async () => {
  const page = await joinedPresencePage();
  page.window.late = () => {};
  const got = [];
  page.window.late = (event, data) => got.push([event, plain(data)]);
  page.document.body.appendChild(page.subscription({ channels: [PRESENCE], events: ['updated'], callback: 'late' }));
  await page.settle();
  assert.deepEqual(got.map((g) => g[0]), ['pusherable:subscribed', 'pusherable:here']);
  assert.deepEqual(got[1][1].members.map((m) => m.id), ['2', '3']);
  assert.equal(page.pusher.subscribeCalls.length, 1);
});

// --- sender exclusion -----------------------------------------------------------------

function formsPage() {
  return load({
    body: [
      (d) => {
        const form = d.createElement('form');
        form.setAttribute('method', 'POST');
        form.setAttribute('id', 'save');
        return form;
      },
      (d) => {
        const form = d.createElement('form');
        form.setAttribute('id', 'search');
        return form;
      },
      (d) => {
        const form = d.createElement('form');
        form.setAttribute('method', 'post');
        form.setAttribute('action', 'https://elsewhere.example/');
        form.setAttribute('id', 'elsewhere');
        return form;
      },
      (d) => {
        const form = d.createElement('form');
        form.setAttribute('method', 'post');
        form.setAttribute('data-pusherable-ignore', '');
        form.setAttribute('id', 'ignored');
        return form;
      },
    ],
  });
}

function socketField(page, id) {
  const form = page.document.getElementById(id);
  const inputs = form.querySelectorAll('input').filter((i) => i.name === 'pusherable_socket_id');
  assert.ok(inputs.length <= 1, 'one field at most');
  return inputs[0] || null;
}

test('POST forms get the socket id once connected, and a new one after reconnecting', () => {
  const page = formsPage();
  assert.equal(socketField(page, 'save'), null);
  page.pusher.connect('11.22');
  const field = socketField(page, 'save');
  assert.equal(field.type, 'hidden');
  assert.equal(field.value, '11.22');
  assert.equal(socketField(page, 'search'), null);
  assert.equal(socketField(page, 'elsewhere'), null);
  assert.equal(socketField(page, 'ignored'), null);
  page.pusher.drop();
  page.pusher.connect('33.44');
  assert.equal(socketField(page, 'save').value, '33.44');
});

test('forms added later get the socket id, and submit refreshes it', async () => {
  const page = formsPage();
  page.pusher.connect('11.22');
  const form = page.h('form', { method: 'post', id: 'late' });
  page.document.body.appendChild(page.h('div', {}, [form]));
  await page.settle();
  assert.equal(socketField(page, 'late').value, '11.22');

  const unseen = page.h('form', { method: 'post', id: 'unseen' });
  page.document.observers.length = 0; // e.g. built in a detached fragment
  page.document.body.appendChild(unseen);
  assert.equal(socketField(page, 'unseen'), null);
  page.document.submit(unseen);
  assert.equal(socketField(page, 'unseen').value, '11.22');
});

test('socketId() and headers() for fetch and XHR', () => {
  const page = load({ body: [] });
  assert.equal(page.api.socketId(), null);
  assert.deepEqual(plain(page.api.headers({ Accept: 'application/json' })), { Accept: 'application/json' });
  page.pusher.connect('7.8');
  assert.equal(page.api.socketId(), '7.8');
  assert.deepEqual(plain(page.api.headers()), { 'X-Socket-ID': '7.8' });
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
