/*
 * pusherable-guard.js: the collision guard's page side, for django-pusherable.
 *
 * Loaded by {% pusherable_script %} after pusherable.js, which it plugs into
 * (pusherable.use). An edit form rendered by PusherUpdateMixin (or the admin mixin)
 * holds a hidden input[data-pusherable-version] with data-pusherable-model and
 * data-pusherable-pk. When an "updated" (or "deleted") event about that object
 * arrives with another version, this file notifies
 *
 *   pusherable:conflict  {channel, model, pk, version, current, deleted, user,
 *                         user_name, user_id, fields, changes}
 *
 * and, when the input or its form has data-pusherable-guard, shows a notice at the
 * top of the form: who changed which fields, from what to what, with "Reload" and
 * "Keep editing". The server merges the save field by field anyway, and refuses only
 * a field both changed to different values. It adds pusherable.conflicts() to the API.
 *
 * Plain ES2017, no build step.
 */
(function (root) {
  'use strict';

  const pusherable = root.pusherable;
  if (!pusherable || typeof pusherable.use !== 'function') {
    if (root.console) root.console.warn('pusherable-guard.js: load pusherable.js first.');
    return;
  }
  if (typeof pusherable.conflicts === 'function') return; // loaded twice

  const document = root.document;
  const helpers = pusherable.helpers;
  const GUARD_ATTRIBUTE = 'data-pusherable-guard';
  const NOTICE_CLASS = 'pusherable-conflict';

  let host = null;
  const conflicts = new Map(); // version input -> {changes, notice, deleted}

  function guardedInputs(model, pk) {
    const found = [];
    if (!document) return found;
    for (const input of document.querySelectorAll('input')) {
      if (!input.hasAttribute('data-pusherable-version')) continue;
      if (input.getAttribute('data-pusherable-model') !== model) continue;
      if (String(helpers.parseJSON(input.getAttribute('data-pusherable-pk'), null)) !== String(pk)) continue;
      found.push(input);
    }
    return found;
  }

  // What one event changed: {name: {old, new, label}}, sensitive fields by name only.
  function changedFields(data, labels) {
    const fields = {};
    const changed = (data && data.changed) || {};
    const previous = (data && data.previous) || {};
    for (const name of Object.keys(changed)) {
      fields[name] = {
        label: labels[name] || name,
        old: Object.prototype.hasOwnProperty.call(previous, name) ? previous[name] : null,
        new: changed[name],
      };
    }
    return fields;
  }

  function copy(value) {
    return JSON.parse(JSON.stringify(value));
  }

  function check(channel, event, data) {
    if (!data || typeof data !== 'object' || data.model == null || data.pk == null) return;
    const deleted = event === 'deleted';
    if (!deleted && (event !== 'updated' || !data.version)) return;
    for (const input of guardedInputs(String(data.model), data.pk)) {
      if (!deleted && helpers.versionOf(input) === data.version) continue; // the form is up to date
      const labels = helpers.parseJSON(input.getAttribute('data-pusherable-labels'), {}) || {};
      let conflict = conflicts.get(input);
      if (!conflict) {
        conflict = { changes: [], notice: null, deleted: false };
        conflicts.set(input, conflict);
      }
      const change = {
        user: data.user == null ? null : String(data.user),
        user_name: data.user_name == null ? null : String(data.user_name),
        user_id: data.user_id == null ? null : String(data.user_id),
        version: deleted ? null : data.version,
        previous_version: deleted ? null : data.previous_version || null,
        fields: deleted ? {} : changedFields(data, labels),
      };
      conflict.changes.push(change);
      conflict.deleted = conflict.deleted || deleted;
      host.notify(channel, 'pusherable:conflict', {
        channel: channel,
        model: String(data.model),
        pk: data.pk,
        version: helpers.versionOf(input),
        current: change.version,
        deleted: deleted,
        user: change.user,
        user_name: change.user_name,
        user_id: change.user_id,
        fields: change.fields,
        changes: conflict.changes.map(copy),
      }, true);
      const form = helpers.formOf(input);
      if (input.hasAttribute(GUARD_ATTRIBUTE) || (form && form.hasAttribute(GUARD_ATTRIBUTE))) {
        showNotice(input, form, conflict);
      }
    }
  }

  // --- the notice ------------------------------------------------------------------------

  function removeNotice(conflict) {
    const notice = conflict.notice;
    conflict.notice = null;
    if (notice && notice.parentNode) notice.parentNode.removeChild(notice);
  }

  function button(className, text, onClick) {
    const node = helpers.make('button', className, text);
    node.setAttribute('type', 'button');
    node.addEventListener('click', onClick);
    return node;
  }

  function showNotice(input, form, conflict) {
    removeNotice(conflict);
    const container = form || input.parentNode;
    if (!container) return;
    const make = helpers.make;
    const describe = helpers.describeValue;
    const users = [];
    for (const change of conflict.changes) {
      const name = change.user_name || change.user || 'someone';
      if (users.indexOf(name) === -1) users.push(name);
    }
    const who = users.join(', ');
    const notice = make('div', NOTICE_CLASS);
    notice.setAttribute('role', 'alert');
    notice.setAttribute('data-pusherable-conflict', '');
    const headline = (conflict.deleted ? 'Deleted' : 'Changed') + ' by ' + who + ' since you opened it.';
    notice.appendChild(make('p', NOTICE_CLASS + '__title', headline));
    const list = make('ul', NOTICE_CLASS + '__fields');
    for (const change of conflict.changes) {
      const author = change.user_name || change.user;
      for (const name of Object.keys(change.fields)) {
        const field = change.fields[name];
        const text = field.label + ': ' + describe(field.old) + ' \u2192 ' + describe(field.new);
        list.appendChild(make('li', null, text + (users.length > 1 && author ? ' (' + author + ')' : '')));
      }
    }
    if (list.children.length) notice.appendChild(list);
    notice.appendChild(
      make(
        'p',
        NOTICE_CLASS + '__help',
        conflict.deleted
          ? 'Saving will not bring it back.'
          : 'If you save, their changes to the fields you left alone are kept; a field you ' +
            'both changed is shown to you again to choose.'
      )
    );
    notice.appendChild(
      button(NOTICE_CLASS + '__reload', 'Reload', () => {
        conflicts.delete(input);
        helpers.reload();
      })
    );
    notice.appendChild(button(NOTICE_CLASS + '__keep', 'Keep editing', () => removeNotice(conflict)));
    if (container.firstChild) container.insertBefore(notice, container.firstChild);
    else container.appendChild(notice);
    conflict.notice = notice;
  }

  // --- the API and the hooks ---------------------------------------------------------------

  pusherable.conflicts = () => {
    const result = [];
    for (const [input, conflict] of conflicts) {
      result.push({
        model: input.getAttribute('data-pusherable-model'),
        pk: helpers.parseJSON(input.getAttribute('data-pusherable-pk'), null),
        version: helpers.versionOf(input),
        deleted: conflict.deleted,
        changes: copy(conflict.changes),
      });
    }
    return result;
  };

  pusherable.use({
    name: 'guard',
    start(api) {
      host = api;
    },
    // After the add-ons' event hooks (the live merge), so that the handlers of
    // pusherable:conflict see the form as merged.
    check(channel, event, data) {
      check(channel, event, data);
    },
  });
})(typeof window !== 'undefined' ? window : this);
