// Tests of the collision guard in pusherable.js: pusherable:conflict and the form notice.
// Run with: node --test tests/js/
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');

const { allText, load, plain } = require('./fakes');

const CHANNEL = 'private-article_7';
const LABELS = JSON.stringify({ title: 'Headline', tags: 'Tags', body: 'Body' });

// An edit form as PusherUpdateMixin renders it: a hidden version input with the
// object's model and pk, and (by default) data-pusherable-guard.
function editForm(options = {}) {
  return (document) => {
    const form = document.createElement('form');
    form.setAttribute('method', 'post');
    if (options.formGuard) form.setAttribute('data-pusherable-guard', '');
    const title = document.createElement('input');
    title.setAttribute('name', 'title');
    form.appendChild(title);
    const input = document.createElement('input');
    input.setAttribute('type', 'hidden');
    input.setAttribute('name', 'pusherable_version');
    input.setAttribute('data-pusherable-version', '');
    input.setAttribute('data-pusherable-model', options.model || 'testapp.article');
    input.setAttribute('data-pusherable-pk', options.pk || '7');
    input.setAttribute('data-pusherable-labels', LABELS);
    if (options.guard !== false) input.setAttribute('data-pusherable-guard', '');
    input.value = options.version || 'v1';
    form.appendChild(input);
    return form;
  };
}

function guardedPage(options = {}) {
  const page = load({
    body: [{ channels: [CHANNEL], events: ['updated'] }, editForm(options)],
  });
  page.pusher.connect('100.1');
  page.pusher.channel(CHANNEL).succeed();
  page.form = page.document.querySelectorAll('form')[0];
  return page;
}

function updated(extra = {}) {
  return {
    event: 'updated',
    model: 'testapp.article',
    pk: 7,
    object: { title: 'Bob title' },
    user: 'bob',
    user_id: '2',
    changed: { title: 'Bob title', tags: [1, 2] },
    previous: { title: 'Old title', tags: [1] },
    version: 'v2',
    previous_version: 'v1',
    ...extra,
  };
}

function notice(page) {
  return Array.from(page.form.children).find((child) => child.hasAttribute('data-pusherable-conflict')) || null;
}

test('an update from someone else raises pusherable:conflict with old and new values', () => {
  const page = guardedPage();
  page.pusher.channel(CHANNEL).trigger('updated', updated());
  assert.deepEqual(page.events().map((n) => n.event).filter((e) => !/subscribed|state/.test(e)), [
    'updated',
    'pusherable:conflict',
  ]);
  const [conflict] = page.events('pusherable:conflict');
  assert.equal(conflict.channel, CHANNEL);
  assert.deepEqual(conflict.data.fields, {
    title: { label: 'Headline', old: 'Old title', new: 'Bob title' },
    tags: { label: 'Tags', old: [1], new: [1, 2] },
  });
  assert.equal(conflict.data.user, 'bob');
  assert.equal(conflict.data.version, 'v1');
  assert.equal(conflict.data.current, 'v2');
  assert.equal(conflict.data.deleted, false);
  const dom = page.dispatched.filter((detail) => detail.event === 'pusherable:conflict');
  assert.equal(dom.length, 1);
});

test('the notice names who changed what, first in the form', () => {
  const page = guardedPage();
  page.pusher.channel(CHANNEL).trigger('updated', updated());
  const box = notice(page);
  assert.ok(box, 'no notice');
  assert.equal(page.form.children[0], box);
  assert.equal(box.getAttribute('role'), 'alert');
  const text = allText(box);
  assert.match(text, /Changed by bob since you opened it\./);
  assert.match(text, /Headline: \u201cOld title\u201d \u2192 \u201cBob title\u201d/);
  assert.match(text, /Tags: \u201c1\u201d \u2192 \u201c1, 2\u201d/);
});

test('"Reload" loads the page again with a GET, "Keep editing" hides the notice', () => {
  const page = guardedPage();
  page.pusher.channel(CHANNEL).trigger('updated', updated());
  const buttons = Array.from(notice(page).children).filter((child) => child.tagName === 'BUTTON');
  assert.deepEqual(buttons.map((b) => [b.textContent, b.getAttribute('type')]), [
    ['Reload', 'button'],
    ['Keep editing', 'button'],
  ]);
  buttons[1].click();
  assert.equal(notice(page), null);
  // The form still holds the version it was rendered from: the server decides.
  assert.equal(page.document.querySelectorAll('input')[1].value, 'v1');

  // A later change shows the notice again, with every change so far.
  page.pusher.channel(CHANNEL).trigger(
    'updated',
    updated({ user: 'carol', changed: { body: 'New' }, previous: { body: '' }, version: 'v3', previous_version: 'v2' })
  );
  const text = allText(notice(page));
  assert.match(text, /Changed by bob, carol since you opened it\./);
  assert.match(text, /Body: \(empty\) \u2192 \u201cNew\u201d \(carol\)/);
  assert.equal(page.api.conflicts()[0].changes.length, 2);

  Array.from(notice(page).children).find((child) => child.textContent === 'Reload').click();
  assert.deepEqual(page.navigations, ['http://testserver/page/']);
});

test('an event with the form\'s own version is no conflict', () => {
  const page = guardedPage({ version: 'v2' });
  page.pusher.channel(CHANNEL).trigger('updated', updated());
  assert.deepEqual(page.events('pusherable:conflict'), []);
  assert.equal(notice(page), null);
});

test('events about another object, or without a version, are no conflict', () => {
  const page = guardedPage();
  const channel = page.pusher.channel(CHANNEL);
  channel.trigger('updated', updated({ pk: 8 }));
  channel.trigger('updated', updated({ model: 'testapp.tag' }));
  channel.trigger('updated', updated({ version: undefined }));
  channel.trigger('updated', 'not an object');
  channel.trigger('view', updated());
  assert.deepEqual(page.events('pusherable:conflict'), []);
});

test('string primary keys match the JSON of data-pusherable-pk', () => {
  const page = load({
    body: [{ channels: ['private-document_a'], events: ['updated'] }, editForm({ model: 'testapp.document', pk: '"a b"' })],
  });
  page.pusher.channel('private-document_a').trigger('updated', updated({ model: 'testapp.document', pk: 'a b' }));
  assert.equal(page.events('pusherable:conflict').length, 1);
});

test('a deletion is a conflict too', () => {
  const page = guardedPage();
  page.pusher.channel(CHANNEL).trigger('deleted', { model: 'testapp.article', pk: 7, user: 'bob', user_id: '2' });
  const [conflict] = page.events('pusherable:conflict');
  assert.equal(conflict.data.deleted, true);
  assert.match(allText(notice(page)), /Deleted by bob since you opened it\. Saving will not bring it back\./);
});

test('without data-pusherable-guard only the event is emitted', () => {
  const page = guardedPage({ guard: false });
  page.pusher.channel(CHANNEL).trigger('updated', updated());
  assert.equal(page.events('pusherable:conflict').length, 1);
  assert.equal(notice(page), null);
});

test('data-pusherable-guard on the form opts in as well', () => {
  const page = guardedPage({ guard: false, formGuard: true });
  page.pusher.channel(CHANNEL).trigger('updated', updated());
  assert.ok(notice(page));
});

test('long and structured values are shortened in the notice', () => {
  const page = guardedPage();
  page.pusher.channel(CHANNEL).trigger(
    'updated',
    updated({ changed: { body: 'x'.repeat(100), meta: { a: 1 } }, previous: { body: null, meta: true } })
  );
  const text = allText(notice(page));
  assert.match(text, new RegExp('Body: \\(empty\\) \u2192 \u201c' + 'x'.repeat(59) + '\u2026\u201d'));
  assert.match(text, /meta: \u201cyes\u201d|meta: yes \u2192 \u201c\{"a":1\}\u201d/);
  assert.deepEqual(plain(page.events('pusherable:conflict')[0].data.fields.meta), { label: 'meta', old: true, new: { a: 1 } });
});
