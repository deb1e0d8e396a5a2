/*
 * pusherable-page.js: what pusherable.js reads from the page and does to it.
 *
 * Loaded by {% pusherable_script %} right after pusherable.js, which it plugs into
 * (pusherable.use):
 *
 * - it subscribes the declarations of {% pusherable_subscribe %}
 *   (<script type="application/json" data-pusherable-subscription>), including those
 *   added to the page later (a MutationObserver), and leaves a channel when the
 *   element of its last declaration is removed;
 * - once connected, it puts the socket id in every same-origin POST form (a hidden
 *   input named config.socketIdField), again after a reconnection and on submit, so
 *   that the tab that saved does not receive its own event (sender exclusion);
 * - it adds the DOM helpers the other files share to pusherable.helpers.
 *
 * Plain ES2017, no build step.
 */
(function (root) {
  'use strict';

  const pusherable = root.pusherable;
  if (!pusherable || typeof pusherable.use !== 'function') {
    if (root.console) root.console.warn('pusherable-page.js: load pusherable.js first.');
    return;
  }
  if (pusherable.helpers.make) return; // loaded twice

  const document = root.document;
  const console = root.console;
  const SUBSCRIPTION_ATTRIBUTE = 'data-pusherable-subscription';
  const IGNORE_FORM_ATTRIBUTE = 'data-pusherable-ignore';
  const VERSION_ATTRIBUTE = 'data-pusherable-version';
  const MAX_QUOTED_LENGTH = 60;

  let host = null;
  const declared = new Map(); // subscription <script> element -> handle

  // --- helpers shared with the other files (pusherable.helpers) --------------------------

  function isElement(node) {
    return Boolean(node && node.nodeType === 1);
  }

  function tagOf(node) {
    return String(node.tagName || '').toUpperCase();
  }

  // An element with a class and a text: make('p', 'note', 'Saved.').
  function make(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.setAttribute('class', className);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // The form a control belongs to (its form= attribute included), or its form ancestor.
  function formOf(node) {
    if (node && isElement(node.form) && tagOf(node.form) === 'FORM') return node.form;
    let current = node;
    while (current && !(isElement(current) && tagOf(current) === 'FORM')) current = current.parentNode;
    return current || null;
  }

  // A value as a notice quotes it: (empty), yes/no, (none), or “text” cut at 60 characters.
  function describeValue(value) {
    if (value === null || value === undefined || value === '') return '(empty)';
    if (value === true) return 'yes';
    if (value === false) return 'no';
    if (Array.isArray(value) && !value.length) return '(none)';
    let text = Array.isArray(value) ? value.map(String).join(', ') : typeof value === 'object' ? JSON.stringify(value) : String(value);
    if (text.length > MAX_QUOTED_LENGTH) text = text.slice(0, MAX_QUOTED_LENGTH - 1) + '\u2026';
    return '\u201c' + text + '\u201d';
  }

  // A GET of the page's own address: never resubmits a form.
  function reload() {
    if (root.location && typeof root.location.assign === 'function') root.location.assign(root.location.href);
  }

  // A presence member's name as the page shows it: info.name, info.username, else fallback
  // (the member's id by default).
  function memberName(member, fallback) {
    const info = (member && member.info) || {};
    return String(info.name || info.username || (fallback === undefined ? member.id : fallback));
  }

  // The version a guarded form was rendered from: the attribute when the server puts
  // it there (the value is then an opaque token for the merge), else the value.
  function versionOf(input) {
    return input.getAttribute(VERSION_ATTRIBUTE) || input.value;
  }

  Object.assign(pusherable.helpers, {
    make: make,
    formOf: formOf,
    describeValue: describeValue,
    reload: reload,
    memberName: memberName,
    versionOf: versionOf,
  });

  // --- declarations ------------------------------------------------------------------------

  function elementsIn(node, tag) {
    const found = [];
    if (!node) return found;
    if (isElement(node) && tagOf(node) === tag) found.push(node);
    if (typeof node.querySelectorAll === 'function') {
      for (const element of node.querySelectorAll(tag.toLowerCase())) found.push(element);
    }
    return found;
  }

  function declareFrom(element) {
    if (declared.has(element) || !element.hasAttribute(SUBSCRIPTION_ATTRIBUTE)) return;
    let spec;
    try {
      spec = JSON.parse(element.textContent);
    } catch (error) {
      if (console) console.error('pusherable: unreadable subscription', element, error);
      return;
    }
    try {
      declared.set(element, pusherable.subscribe(spec));
    } catch (error) {
      if (console) console.error(error);
    }
  }

  function forget(node) {
    for (const element of elementsIn(node, 'SCRIPT')) {
      const handle = declared.get(element);
      if (!handle) continue;
      declared.delete(element);
      handle.unsubscribe();
    }
  }

  function observe() {
    if (typeof root.MutationObserver !== 'function' || !document.documentElement) return;
    const observer = new root.MutationObserver((records) => {
      for (const record of records) {
        for (const node of record.removedNodes || []) if (isElement(node)) forget(node);
        for (const node of record.addedNodes || []) if (isElement(node)) pusherable.scan(node);
      }
    });
    observer.observe(document.documentElement, { childList: true, subtree: true });
  }

  // --- sender exclusion ----------------------------------------------------------------------

  function sameOrigin(form) {
    const action = form.getAttribute('action');
    if (!action || !root.location) return true;
    try {
      const base = (document && document.baseURI) || root.location.href;
      return new root.URL(action, base).origin === root.location.origin;
    } catch (error) {
      return false;
    }
  }

  // Only same-origin POST forms get the socket id: it is of no use elsewhere.
  function addSocketId(form) {
    const id = host && host.socketId();
    const post = String(form.getAttribute('method') || 'get').toLowerCase() === 'post';
    if (!id || !post || form.hasAttribute(IGNORE_FORM_ATTRIBUTE) || !sameOrigin(form)) return;
    const field = host.config.socketIdField;
    let input = null;
    for (const candidate of form.querySelectorAll('input')) {
      if (candidate.name === field) input = candidate;
    }
    if (!input) {
      input = document.createElement('input');
      input.type = 'hidden';
      input.name = field;
      form.appendChild(input);
    }
    input.value = id;
  }

  function onSubmit(event) {
    // Covers forms built in ways no observer saw, and a socket id that changed.
    const form = event.target;
    if (isElement(form) && tagOf(form) === 'FORM') addSocketId(form);
  }

  // --- the hooks -------------------------------------------------------------------------------

  pusherable.use({
    name: 'page',
    start(api) {
      host = api;
      if (!document) return;
      document.addEventListener('submit', onSubmit, true);
      observe();
    },
    scan(node) {
      for (const element of elementsIn(node, 'SCRIPT')) declareFrom(element);
      for (const form of elementsIn(node, 'FORM')) addSocketId(form);
    },
    state(change) {
      if (change.current === 'connected') for (const form of elementsIn(document, 'FORM')) addSocketId(form);
    },
  });
})(typeof window !== 'undefined' ? window : this);
