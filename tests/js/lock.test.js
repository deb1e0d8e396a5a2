// Tests of pusherable-lock.js: the order of what a page learns about the edit lock,
// when an endpoint's answer and a lock event cross. The rest of the lock runs against
// real servers in Chromium: tests/live/test_edit_lock_browser.py.
// Run with: node --test tests/js/
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');

const { CONFIG, allText, load } = require('./fakes');

const PRESENCE = 'presence-article_7';
const ALICE = { id: '1', name: 'alice' };
const CAROL = { id: '3', name: 'carol' };

// Bob's page (member 2) while Alice holds the lock; the lock endpoint's answers wait
// until the test resolves them.
function bobsPage() {
  const pending = [];
  const state = { channel: PRESENCE, me: '2', mine: false, holder: ALICE, canTakeOver: false, renewEvery: 20000, asks: [] };
  const banner = (document) => {
    const element = document.createElement('div');
    element.setAttribute('data-pusherable-lock', PRESENCE);
    element.setAttribute('data-pusherable-lock-state', JSON.stringify(state));
    return element;
  };
  const loaded = load({
    config: { ...CONFIG, endpoints: { ...CONFIG.endpoints, lock: '/pusherable/lock/' } },
    addons: ['pusherable-lock.js'],
    body: [{ channels: [PRESENCE], events: ['updated'], intent: 'editing' }, banner],
    respond: (url) => {
      if (!url.startsWith('/pusherable/lock/')) return null;
      return new Promise((resolve) => pending.push(resolve));
    },
  });
  loaded.pusher.connect('100.1');
  loaded.pusher.channel(PRESENCE).succeed({ members: { 1: {}, 2: {}, 3: {} }, me: '2' });
  loaded.answerLock = async (holder, at) => {
    pending.shift()({ status: 200, body: { ok: true, lock: { holder, mine: false, asks: [] }, at } });
    await loaded.settle();
  };
  loaded.bannerText = () => allText(loaded.document.querySelector('[data-pusherable-lock]'));
  return loaded;
}

test('a renewal read before a take-over does not undo it when it is answered after', async () => {
  const page = bobsPage();
  await page.settle(); // subscribed: the page asks for the lock as it stands (renew)
  page.pusher.channel(PRESENCE).trigger('pusherable:lock', { holder: CAROL, previous: ALICE, reason: 'takeover', at: 1001 });
  assert.match(page.bannerText(), /carol is editing this/);
  await page.answerLock(ALICE, 1000); // read at 1000, before the take-over at 1001
  assert.match(page.bannerText(), /carol is editing this/);
});

test('an answer newer than the last event is applied', async () => {
  const page = bobsPage();
  await page.settle();
  page.pusher.channel(PRESENCE).trigger('pusherable:lock', { holder: CAROL, previous: ALICE, reason: 'takeover', at: 1001 });
  await page.answerLock(ALICE, 1002); // Alice took it back meanwhile
  assert.match(page.bannerText(), /alice is editing this/);
});

test('an event older than what the page shows is not applied', async () => {
  const page = bobsPage();
  await page.settle();
  await page.answerLock(CAROL, 1005);
  page.pusher.channel(PRESENCE).trigger('pusherable:lock', { holder: ALICE, previous: null, reason: 'acquired', at: 1000 });
  assert.match(page.bannerText(), /carol is editing this/);
  assert.equal(page.events('pusherable:lock').length, 0);
});
