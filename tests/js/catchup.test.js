// Tests of pusherable-catchup.js: after a reconnection or a wake-up, the page asks what it
// missed and gets it as if it had been online. Run with: node --test tests/js/
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');

const { load } = require('./fakes');

const PRIVATE = 'private-article_7';
const PRESENCE = 'presence-article_7';

function change(previousVersion, version, changed, previous, extra = {}) {
  return {
    event: 'updated',
    model: 'testapp.article',
    pk: 7,
    changed,
    previous,
    version,
    previous_version: previousVersion,
    user: 'alice',
    user_id: '1',
    at: '2025-01-31T10:00:00+00:00',
    ...extra,
  };
}

function answer(changes, extra = {}) {
  const last = changes && changes.length ? changes[changes.length - 1].version : 'v1';
  return {
    model: 'testapp.article',
    pk: 7,
    version: last,
    deleted: false,
    changes,
    object: { title: 'Now' },
    ...extra,
  };
}

// A page subscribed to the article, holding version v1; `answers` are the endpoint's
// successive answers (an object with status/body, or a body).
function page(options = {}) {
  const answers = (options.answers || []).slice();
  const declarations = options.declarations || [
    { channels: [PRIVATE], events: ['updated', 'deleted'], version: 'v1', scope: 'signed-scope' },
  ];
  const loaded = load({
    addons: ['pusherable-catchup.js'],
    body: declarations.concat(options.body || []),
    respond: (url) => {
      if (!url.startsWith('/pusherable/changes/')) return null;
      const next = answers.length > 1 ? answers.shift() : answers[0];
      if (typeof next === 'function') return next();
      return next && next.status ? next : { status: 200, body: next };
    },
  });
  loaded.pusher.connect('100.1');
  for (const declaration of declarations) {
    for (const name of declaration.channels) {
      if (name.startsWith('presence-')) loaded.pusher.channel(name).succeed({ members: {}, me: '9' });
      else loaded.pusher.channel(name).succeed();
    }
  }
  loaded.changesCalls = () => loaded.fetchCalls.filter((call) => call.url.startsWith('/pusherable/changes/'));
  // The connection drops and comes back; every channel is subscribed again.
  loaded.reconnect = async () => {
    loaded.pusher.drop();
    loaded.pusher.setState('unavailable');
    loaded.pusher.connect('100.2');
    for (const [name, channel] of loaded.pusher.channels) {
      if (name.startsWith('presence-')) channel.succeed({ members: {}, me: '9' });
      else channel.succeed();
    }
    await loaded.settle();
  };
  return loaded;
}

function caughtUp(loaded) {
  return loaded.events().filter((n) => n.data && n.data.catch_up);
}

test('the first connection asks nothing: the page was just rendered', async () => {
  const loaded = page({ answers: [answer([])] });
  await loaded.settle();
  assert.equal(loaded.changesCalls().length, 0);
});

test('after a drop, missed saves arrive as updated events marked catch_up', async () => {
  const loaded = page({
    answers: [
      answer([
        change('v1', 'v2', { title: 'Second' }, { title: 'First' }),
        change('v2', 'v3', { body: 'B' }, { body: 'A' }),
      ]),
    ],
  });
  await loaded.reconnect();
  const [call] = loaded.changesCalls();
  assert.equal(call.method, 'GET');
  assert.deepEqual(call.query, { channel: PRIVATE, since: 'v1', scope: 'signed-scope' });
  assert.equal(call.credentials, 'same-origin');
  assert.equal(call.headers['X-Socket-ID'], '100.2');
  const delivered = caughtUp(loaded);
  assert.deepEqual(delivered.map((n) => [n.event, n.channel, n.data.version]), [
    ['updated', PRIVATE, 'v2'],
    ['updated', PRIVATE, 'v3'],
  ]);
  assert.deepEqual(delivered[0].data.changed, { title: 'Second' });
  assert.deepEqual(delivered[0].data.previous, { title: 'First' });
  assert.deepEqual(delivered[0].data.object, { title: 'Now' });
  assert.equal(delivered[0].data.user, 'alice');
});

test('the page asks from the version it holds now: live events move it on', async () => {
  const loaded = page({ answers: [answer([])] });
  loaded.pusher.channel(PRIVATE).trigger('updated', change('v1', 'v2', { title: 'Live' }, { title: 'Old' }));
  await loaded.reconnect();
  assert.equal(loaded.changesCalls()[0].query.since, 'v2');
  assert.equal(caughtUp(loaded).length, 0);
});

test('the next catch-up starts where the last one ended', async () => {
  const loaded = page({
    answers: [answer([change('v1', 'v2', { title: 'T2' }, { title: 'T1' })]), answer([])],
  });
  await loaded.reconnect();
  await loaded.reconnect();
  assert.deepEqual(loaded.changesCalls().map((call) => call.query.since), ['v1', 'v2']);
});

test('a change that arrived live meanwhile is not delivered twice, nor undone', async () => {
  let loaded;
  const slow = () => {
    // While the request is on its way, the latest save arrives live.
    loaded.pusher.channel(PRIVATE).trigger('updated', change('v2', 'v3', { title: 'Latest' }, { title: 'Middle' }));
    return {
      status: 200,
      body: answer([
        change('v1', 'v2', { title: 'Middle', body: 'New body' }, { title: 'Old', body: 'Old body' }),
        change('v2', 'v3', { title: 'Latest' }, { title: 'Middle' }),
      ]),
    };
  };
  loaded = page({ answers: [slow] });
  await loaded.reconnect();
  const delivered = caughtUp(loaded);
  assert.equal(delivered.length, 1);
  // The missed change, less the title a later change (already on the page) set.
  assert.deepEqual(delivered[0].data.changed, { body: 'New body' });
  assert.deepEqual(delivered[0].data.previous, { body: 'Old body' });
});

test('when the history cannot tell, the page hears pusherable:missed with the object', async () => {
  const loaded = page({ answers: [answer(null, { version: 'v9' })] });
  await loaded.reconnect();
  const [missed] = loaded.events('pusherable:missed');
  assert.deepEqual(missed.data, {
    channel: PRIVATE,
    model: 'testapp.article',
    pk: 7,
    version: 'v9',
    object: { title: 'Now' },
    catch_up: true,
  });
  assert.equal(loaded.events('updated').length, 0);
  await loaded.reconnect();
  assert.equal(loaded.changesCalls()[1].query.since, 'v9');
});

test('a deletion missed while offline arrives as deleted, and nothing is asked after', async () => {
  const loaded = page({
    answers: [{ model: 'testapp.article', pk: 7, version: null, deleted: true, changes: [], object: null }],
  });
  await loaded.reconnect();
  const [deleted] = loaded.events('deleted');
  assert.equal(deleted.data.catch_up, true);
  assert.equal(deleted.data.pk, 7);
  await loaded.reconnect();
  assert.equal(loaded.changesCalls().length, 1);
});

test('a refused catch-up is reported as pusherable:error', async () => {
  const loaded = page({ answers: [{ status: 403, body: { error: 'You may not view this article.' } }] });
  await loaded.reconnect();
  const [error] = loaded.events('pusherable:error');
  assert.equal(error.data.source, 'catch_up');
  assert.equal(error.data.reason, 'forbidden');
  assert.equal(error.data.message, 'You may not view this article.');
});

for (const order of [[PRESENCE, PRIVATE], [PRIVATE, PRESENCE]]) {
  test('one request per object, through its non-presence channel: ' + order.join(' then '), async () => {
    const loaded = page({
      declarations: order.map((name) => ({
        channels: [name],
        events: ['updated'],
        intent: name === PRESENCE ? 'editing' : undefined,
        version: 'v1',
        scope: 's',
      })),
      answers: [answer([change('v1', 'v2', { title: 'T' }, { title: 'O' })])],
    });
    await loaded.reconnect();
    assert.deepEqual(loaded.changesCalls().map((call) => call.query.channel), [PRIVATE]);
    assert.deepEqual(caughtUp(loaded).map((n) => n.channel), [PRIVATE]);
  });
}

test('a tab back after a while asks; a short glance away does not', async () => {
  const loaded = page({ answers: [answer([])] });
  loaded.setVisibility('hidden');
  loaded.clock.tick(1000);
  loaded.setVisibility('visible');
  await loaded.settle();
  assert.equal(loaded.changesCalls().length, 0);
  loaded.setVisibility('hidden');
  loaded.clock.tick(60000);
  loaded.setVisibility('visible');
  await loaded.settle();
  assert.equal(loaded.changesCalls().length, 1);
});

test('back online, the page asks once the connection is there', async () => {
  const loaded = page({ answers: [answer([])] });
  loaded.fire('online');
  await loaded.settle();
  assert.equal(loaded.changesCalls().length, 0); // pusher-js gets a moment first
  loaded.clock.tick(500);
  await loaded.settle();
  assert.equal(loaded.changesCalls().length, 1);
});

test('asked again while a request is on its way: one more request, after it', async () => {
  let release;
  const gate = new Promise((resolve) => {
    release = resolve;
  });
  const loaded = page({ answers: [async () => (await gate, { status: 200, body: answer([]) })] });
  loaded.setVisibility('hidden');
  loaded.clock.tick(60000);
  loaded.setVisibility('visible');
  loaded.setVisibility('hidden');
  loaded.clock.tick(60000);
  loaded.setVisibility('visible');
  await loaded.settle();
  assert.equal(loaded.changesCalls().length, 1);
  release();
  await loaded.settle();
  assert.equal(loaded.changesCalls().length, 2);
});

test('data-pusherable-catch-up="off" on the body turns it off', async () => {
  const loaded = page({ answers: [answer([])] });
  loaded.document.body.setAttribute('data-pusherable-catch-up', 'off');
  await loaded.reconnect();
  assert.equal(loaded.changesCalls().length, 0);
});

test('pages without the endpoint, or without a declared version, ask nothing', async () => {
  const loaded = page({
    declarations: [{ channels: [PRIVATE], events: ['updated'] }],
    answers: [answer([])],
  });
  await loaded.reconnect();
  assert.equal(loaded.changesCalls().length, 0);
});
