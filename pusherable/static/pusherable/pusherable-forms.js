/*
 * pusherable-forms.js: live merge of open edit forms, for django-pusherable.
 *
 * Loaded by {% pusherable_script %} after pusherable.js. It works on every form that
 * holds the collision guard's hidden input (input[data-pusherable-version] with
 * data-pusherable-model and data-pusherable-pk), as PusherUpdateMixin and the admin
 * render it:
 *
 * - When a colleague's "updated" event about the form's object arrives (live, or
 *   through a catch-up), every field the user has not touched takes the new value
 *   (touched: its value differs from the one the page loaded with or was last filled
 *   in with, or from the colleague's old value), and is highlighted briefly: "Alice
 *   changed Title". A field the user changed, that the colleague changed to another
 *   value, is marked as a conflict: the colleague's value and a "Use theirs" button.
 *   A value that cannot be shown faithfully (a file, a value the widget has no option
 *   for, a date-time in another time zone) is never guessed: the field says "changed
 *   by Alice, reload to see".
 * - After a refused save, the input's data-pusherable-conflicts
 *   ({name: {theirs, data, user}}) puts the same mark, with "Use theirs", on each
 *   conflicting field.
 *
 * Events (to the channel's callbacks, and as "pusherable:notify" DOM events):
 *
 *   pusherable:merged   {channel, model, pk, fields, conflicts, skipped, user,
 *                        user_id, version, catch_up}
 *
 * Turn the live fill-in off with data-pusherable-merge="off" on the form or any
 * ancestor (<body> for the whole page); the marks of a refused save stay.
 * Plain ES2017, no build step.
 */
(function (root) {
  'use strict';

  const document = root.document;
  const pusherable = root.pusherable;
  if (!pusherable || typeof pusherable.use !== 'function') {
    if (root.console) root.console.warn('pusherable-forms.js: load pusherable.js first.');
    return;
  }
  const { parseJSON, make, formOf, describeValue, versionOf } = pusherable.helpers;
  const VERSION_SELECTOR = 'input[data-pusherable-version][data-pusherable-model][data-pusherable-pk]';
  const MERGE_ATTRIBUTE = 'data-pusherable-merge';
  const STATE_ATTRIBUTE = 'data-pusherable-state';
  const NOTE_CLASS = 'pusherable-field-note';
  const HIGHLIGHT_MS = 4000;

  const forms = new Map(); // form -> {input, prefix, labels, baselines: Map, notes: Map}
  let host = null;

  // --- reading and writing fields ---------------------------------------------------

  function controlsOf(form, name) {
    const found = [];
    for (const element of Array.prototype.slice.call(form.elements)) {
      if (element.name === name) found.push(element);
    }
    return found;
  }

  function kindOf(controls) {
    if (!controls.length) return null;
    const first = controls[0];
    const tag = String(first.tagName).toUpperCase();
    if (controls.length > 1) {
      if (controls.every((item) => item.type === 'radio')) return 'radio';
      if (controls.every((item) => item.type === 'checkbox')) return 'checkboxes';
      return 'unknown';
    }
    if (tag === 'SELECT') return first.multiple ? 'multi' : 'select';
    if (tag === 'TEXTAREA') return 'text';
    if (tag !== 'INPUT') return 'unknown';
    const type = String(first.type || 'text').toLowerCase();
    if (type === 'checkbox' || type === 'radio' || type === 'file' || type === 'hidden' || type === 'password') {
      return type;
    }
    if (['submit', 'button', 'reset', 'image'].indexOf(type) !== -1) return 'unknown';
    return 'text';
  }

  function unifyLines(text) {
    return String(text).replace(/\r\n?/g, '\n');
  }

  // The field's value in one comparable shape: a string, a boolean, or a sorted list.
  function read(kind, controls) {
    const first = controls[0];
    switch (kind) {
      case 'text':
        return unifyLines(first.value);
      case 'checkbox':
        return Boolean(first.checked);
      case 'select':
      case 'radio':
        if (kind === 'select') return first.value;
        for (const item of controls) if (item.checked) return item.value;
        return '';
      case 'multi':
        return Array.prototype.slice.call(first.options).filter((o) => o.selected).map((o) => o.value).sort();
      case 'checkboxes':
        return controls.filter((item) => item.checked).map((item) => item.value).sort();
      default:
        return null;
    }
  }

  function write(kind, controls, value) {
    const first = controls[0];
    switch (kind) {
      case 'text':
        first.value = value;
        break;
      case 'checkbox':
        first.checked = Boolean(value);
        break;
      case 'select':
        first.value = value;
        break;
      case 'radio':
        for (const item of controls) item.checked = item.value === value;
        break;
      case 'multi':
        for (const option of first.options) option.selected = value.indexOf(option.value) !== -1;
        break;
      case 'checkboxes':
        for (const item of controls) item.checked = value.indexOf(item.value) !== -1;
        break;
      default:
        break;
    }
  }

  function same(left, right) {
    return JSON.stringify(left) === JSON.stringify(right);
  }

  function optionValues(kind, controls) {
    if (kind === 'select' || kind === 'multi') {
      return Array.prototype.slice.call(controls[0].options).map((option) => option.value);
    }
    return controls.map((item) => item.value);
  }

  const ISO_DATETIME = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}(?::\d{2})?)(\.\d+)?(Z|[+-]\d{2}:\d{2})?$/;
  const ISO_TIME = /^(\d{2}:\d{2}(?::\d{2})?)(\.\d+)?$/;
  const ISO_DURATION = /^P(\d+)DT(\d{2})H(\d{2})M(\d{2})(\.\d{6})?S$/;
  // What Django's default widgets render: DateTimeInput "%Y-%m-%d %H:%M:%S",
  // TimeInput "%H:%M:%S", DurationField "[D ]HH:MM:SS[.ffffff]".
  const SHOWN_DATETIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2})?$/;
  const SHOWN_TIME = /^\d{2}:\d{2}(:\d{2})?$/;
  const SHOWN_DURATION = /^(\d+ )?\d{2}:\d{2}:\d{2}(\.\d{6})?$/;

  function seconds(time) {
    return time.length === 5 ? time + ':00' : time;
  }

  // A payload's text as the field shows it, or undefined when that cannot be told for
  // sure. `shown` is what the field showed for a value of the same field (its value
  // when the page loaded): a date-time is only converted for a field that shows
  // Django's format, so a text that merely looks like one is left alone.
  function asText(control, value, shown) {
    if (value === null || value === undefined) return '';
    if (typeof value === 'number') return Number.isFinite(value) ? String(value) : undefined;
    if (typeof value !== 'string') return undefined; // lists, objects (JSON), booleans
    const type = String(control.type || '').toLowerCase();
    const blank = shown === '' || shown === undefined;
    const datetime = ISO_DATETIME.exec(value);
    if (datetime) {
      const aware = Boolean(datetime[4]) && datetime[4] !== 'Z' && datetime[4] !== '+00:00';
      const utc = datetime[4] === 'Z' || datetime[4] === '+00:00';
      if (type === 'datetime-local') return aware || utc ? undefined : datetime[1] + 'T' + datetime[2];
      if (!blank && !SHOWN_DATETIME.test(shown)) return value; // a text field's own text
      // The server shows date-times in its current time zone, which the page does not
      // know: only a naive one, or a UTC one on a field that showed UTC, is certain.
      if (aware) return undefined;
      if (utc && !control.__pusherableUtc) return undefined;
      return datetime[1] + ' ' + seconds(datetime[2]);
    }
    const time = ISO_TIME.exec(value);
    if (time && (type === 'time' || blank || SHOWN_TIME.test(shown))) {
      return type === 'time' ? time[1] : seconds(time[1]);
    }
    const duration = ISO_DURATION.exec(value);
    if (duration && (blank || SHOWN_DURATION.test(shown))) {
      const days = Number(duration[1]);
      return (days ? days + ' ' : '') + duration[2] + ':' + duration[3] + ':' + duration[4] + (duration[5] || '');
    }
    return unifyLines(value);
  }

  // A payload value in the field's shape, or undefined when it cannot be shown faithfully.
  function toField(kind, controls, value, shown) {
    switch (kind) {
      case 'text':
        return asText(controls[0], value, shown);
      case 'checkbox':
        return typeof value === 'boolean' ? value : undefined;
      case 'select':
      case 'radio': {
        const options = optionValues(kind, controls);
        let candidates;
        if (value === null || value === undefined) candidates = ['', 'unknown'];
        else if (typeof value === 'boolean') candidates = value ? ['true', 'True', '1'] : ['false', 'False', '0'];
        else if (typeof value === 'string' || typeof value === 'number') candidates = [String(value)];
        else candidates = [];
        for (const candidate of candidates) if (options.indexOf(candidate) !== -1) return candidate;
        return undefined;
      }
      case 'multi':
      case 'checkboxes': {
        if (!Array.isArray(value)) return undefined;
        const options = optionValues(kind, controls);
        const wanted = value.map(String);
        for (const item of wanted) if (options.indexOf(item) === -1) return undefined;
        return wanted.sort();
      }
      default:
        return undefined;
    }
  }

  // A date-time field that showed a UTC payload value (the colleague's old value) as
  // Django renders it shows date-times in UTC: their new value can be shown too.
  function learnUtc(control, shownValue, payloadValue) {
    const datetime = typeof payloadValue === 'string' && ISO_DATETIME.exec(payloadValue);
    if (!datetime || (datetime[4] !== 'Z' && datetime[4] !== '+00:00')) return;
    if (shownValue === datetime[1] + ' ' + seconds(datetime[2])) control.__pusherableUtc = true;
  }

  // --- the page ---------------------------------------------------------------------

  function merging(form) {
    let node = form;
    while (node && node.getAttribute) {
      if (node.getAttribute(MERGE_ATTRIBUTE) === 'off') return false;
      node = node.parentNode;
    }
    return true;
  }

  // Where a field's note goes: after the control, or after the block holding a group.
  function anchorOf(controls) {
    if (controls.length === 1) return controls[0];
    let node = controls[0].parentNode;
    while (node && !controls.every((item) => node.contains(item))) node = node.parentNode;
    return node || controls[controls.length - 1];
  }

  function track(form, input) {
    const entry = {
      input: input,
      prefix: input.name.slice(0, input.name.lastIndexOf('-') + 1),
      labels: parseJSON(input.getAttribute('data-pusherable-labels'), {}) || {},
      baselines: new Map(),
      notes: new Map(),
      theirs: new Map(), // conflicting field -> their value, in the field's shape
    };
    for (const element of Array.prototype.slice.call(form.elements)) {
      const name = element.name;
      if (!name || entry.baselines.has(name) || element === input) continue;
      const controls = controlsOf(form, name);
      entry.baselines.set(name, read(kindOf(controls), controls));
    }
    forms.set(form, entry);
    form.addEventListener('input', () => settle(form));
    form.addEventListener('change', () => settle(form));
    return entry;
  }

  function label(entry, name) {
    return entry.labels[name] || name.replace(/_/g, ' ');
  }

  function clearNote(entry, name) {
    const note = entry.notes.get(name);
    if (!note) return;
    entry.notes.delete(name);
    root.clearTimeout(note.timer);
    if (note.node.parentNode) note.node.parentNode.removeChild(note.node);
    for (const control of note.controls) control.removeAttribute(STATE_ATTRIBUTE);
    entry.theirs.delete(name);
  }

  function showNote(form, entry, name, controls, kind, text, options) {
    clearNote(entry, name);
    const node = make('div', NOTE_CLASS + ' ' + NOTE_CLASS + '--' + kind);
    node.setAttribute('data-pusherable-field', name);
    node.setAttribute('role', kind === 'merged' ? 'status' : 'alert');
    node.appendChild(make('span', NOTE_CLASS + '__text', text));
    const note = { node: node, controls: controls, timer: null };
    if (options && options.useTheirs !== undefined) {
      const fieldKind = kindOf(controls);
      const value = options.useTheirs;
      entry.theirs.set(name, value);
      const button = make('button', NOTE_CLASS + '__use-theirs', 'Use theirs');
      button.type = 'button';
      button.addEventListener('click', () => {
        write(fieldKind, controls, value);
        entry.baselines.set(name, read(fieldKind, controls));
        clearNote(entry, name);
      });
      node.appendChild(document.createTextNode(' '));
      node.appendChild(button);
    }
    for (const control of controls) control.setAttribute(STATE_ATTRIBUTE, kind);
    const anchor = anchorOf(controls);
    if (anchor.parentNode) anchor.parentNode.insertBefore(node, anchor.nextSibling);
    if (kind === 'merged') note.timer = root.setTimeout(() => clearNote(entry, name), HIGHLIGHT_MS);
    entry.notes.set(name, note);
  }

  // The user typed: a conflict the field now agrees with needs no mark.
  function settle(form) {
    const entry = forms.get(form);
    if (!entry) return;
    for (const [name, value] of Array.from(entry.theirs)) {
      const controls = controlsOf(form, name);
      if (same(read(kindOf(controls), controls), value)) {
        entry.baselines.set(name, value);
        clearNote(entry, name);
      }
    }
  }

  // Marks from a refused save: data-pusherable-conflicts on the version input.
  function showServerConflicts(form, entry) {
    const conflicts = parseJSON(entry.input.getAttribute('data-pusherable-conflicts'), null);
    if (!conflicts || typeof conflicts !== 'object') return;
    for (const name of Object.keys(conflicts)) {
      const conflict = conflicts[name] || {};
      const controls = controlsOf(form, entry.prefix + name);
      const kind = kindOf(controls);
      if (!controls.length) continue;
      const who = conflict.user || 'Someone';
      const text = who + ' saved ' + describeValue(conflict.theirs) + '.';
      const data = conflict.data;
      let theirs;
      if (kind === 'multi' || kind === 'checkboxes') theirs = Array.isArray(data) ? data.map(String).sort() : undefined;
      else if (kind === 'checkbox') theirs = Array.isArray(data) ? data.length > 0 : Boolean(data) && data !== 'False' && data !== 'false';
      else if (kind === 'text' || kind === 'select' || kind === 'radio') theirs = data === null || data === undefined ? '' : unifyLines(data);
      // The stored value is theirs: what the form was rendered from, for this field.
      if (theirs !== undefined) entry.baselines.set(entry.prefix + name, theirs);
      showNote(form, entry, entry.prefix + name, controls, 'conflict', text, theirs === undefined ? null : { useTheirs: theirs });
    }
  }

  function scanForms(node) {
    if (!node || typeof node.querySelectorAll !== 'function') return;
    const inputs = Array.prototype.slice.call(node.querySelectorAll(VERSION_SELECTOR));
    if (node.matches && node.matches(VERSION_SELECTOR)) inputs.push(node);
    for (const input of inputs) {
      const form = formOf(input);
      if (!form || forms.has(form)) continue;
      showServerConflicts(form, track(form, input));
    }
  }

  // --- merging an event into the forms ---------------------------------------------

  function userOf(data) {
    return String(data.user_name || data.user || 'Someone');
  }

  // `whole`: values is the whole object (a catch-up the history could not tell), not
  // what changed: a value that cannot be shown may well be unchanged, so it is not
  // flagged (the guard's notice says the form is out of date).
  function mergeInto(form, entry, data, values, previous, whole) {
    const who = userOf(data);
    const result = { fields: [], conflicts: [], skipped: [] };
    const live = merging(form);
    for (const field of Object.keys(values)) {
      const name = entry.prefix + field;
      const controls = controlsOf(form, name);
      const kind = kindOf(controls);
      if (!kind || kind === 'hidden' || controls[0] === entry.input) continue;
      const base = entry.baselines.get(name);
      const mine = read(kind, controls);
      const hasPrevious = Object.prototype.hasOwnProperty.call(previous, field);
      if (hasPrevious && kind === 'text') learnUtc(controls[0], base, previous[field]);
      const theirs = toField(kind, controls, values[field], base);
      const before = hasPrevious ? toField(kind, controls, previous[field], base) : undefined;
      const untouched = same(mine, base) && (before === undefined || same(mine, before));
      const title = label(entry, field);
      if (theirs === undefined) {
        if (whole) continue;
        result.skipped.push(field);
        showNote(form, entry, name, controls, 'stale', untouched
          ? 'Changed by ' + who + '; reload to see.'
          : who + ' changed ' + title + ' too; reload to see their value.');
        continue;
      }
      if (same(mine, theirs)) {
        entry.baselines.set(name, theirs);
        clearNote(entry, name);
        continue;
      }
      if (untouched && live) {
        write(kind, controls, theirs);
        const now = read(kind, controls);
        if (same(now, theirs)) {
          entry.baselines.set(name, theirs);
          result.fields.push(field);
          showNote(form, entry, name, controls, 'merged', who + ' changed ' + title);
          continue;
        }
        write(kind, controls, mine); // the widget refused the value: leave it as it was
      }
      if (untouched) continue; // the fill-in is off: the guard notice tells
      result.conflicts.push(field);
      showNote(form, entry, name, controls, 'conflict', who + ' changed this to ' + describeValue(values[field]) + '.', {
        useTheirs: theirs,
      });
    }
    return result;
  }

  function onEvent(channel, event, data) {
    if (!data || typeof data !== 'object' || data.model == null || data.pk == null) return;
    let values;
    let previous = {};
    if (event === 'updated' && data.changed && typeof data.changed === 'object') {
      values = data.changed;
      previous = data.previous && typeof data.previous === 'object' ? data.previous : {};
    } else if (event === 'pusherable:missed' && data.object && typeof data.object === 'object') {
      values = data.object; // no history: the object as it is now, against the page's
    } else {
      return;
    }
    for (const [form, entry] of forms) {
      const input = entry.input;
      if (input.getAttribute('data-pusherable-model') !== String(data.model)) continue;
      if (String(parseJSON(input.getAttribute('data-pusherable-pk'), null)) !== String(data.pk)) continue;
      if (event === 'updated' && versionOf(input) === data.version) continue; // this form's own
      const result = mergeInto(form, entry, data, values, previous, event === 'pusherable:missed');
      if (!result.fields.length && !result.conflicts.length && !result.skipped.length) continue;
      host.emit(channel, 'pusherable:merged', {
        channel: channel,
        model: String(data.model),
        pk: data.pk,
        fields: result.fields,
        conflicts: result.conflicts,
        skipped: result.skipped,
        user: data.user_name || data.user || null,
        user_id: data.user_id == null ? null : String(data.user_id),
        version: data.version || null,
        catch_up: Boolean(data.catch_up),
      });
    }
  }

  const plugin = {
    name: 'forms',
    start(api) {
      host = api;
    },
    scan: scanForms,
    event(channel, event, data) {
      if (event === 'pusherable:merged') return;
      onEvent(channel, event, data);
    },
  };

  // The marks of a refused save need no connection: set them up on load.
  function boot() {
    scanForms(document);
  }

  pusherable.use(plugin);
  if (document && document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else if (document) boot();
})(typeof window !== 'undefined' ? window : this);
