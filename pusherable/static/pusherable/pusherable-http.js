/*
 * pusherable-http.js: the requests pusherable.js makes to Django's endpoints, with no
 * state of their own: fetch with the page's cookies, JSON answers, errors that carry
 * their HTTP status, form and query encoding, and the data of a pusherable:error.
 *
 * Loaded by {% pusherable_script %} first, before pusherable.js, which takes it over
 * and publishes it as pusherable.http (the CSRF token and the socket id are the core's
 * to add: it knows the page's configuration and connection). The hand-over goes through
 * a registered symbol, not window.pusherable: deferred scripts run one task apart, and
 * code polling for window.pusherable in between must never find it half built.
 * Plain ES2017, no build step.
 */
(function (root) {
  'use strict';

  const HANDOVER = Symbol.for('pusherable.http');
  if (root[HANDOVER] || (root.pusherable && root.pusherable.version)) {
    return; // Loaded twice: the first copy stays.
  }

  const REASONS = { 400: 'bad_request', 401: 'unauthenticated', 403: 'forbidden', 404: 'not_found' };

  // The reason of a pusherable:error for an HTTP status (0 or null: no answer).
  function reasonFor(status) {
    if (!status) return 'network';
    return REASONS[status] || (status >= 500 ? 'server_error' : 'refused');
  }

  // The data of a pusherable:error about `error` ({status, message}); the reason follows
  // the status unless given.
  function errorData(channel, source, error, reason) {
    const status = error.status || null;
    return { channel: channel, reason: reason || reasonFor(status), status: status, message: error.message, source: source };
  }

  function requestError(status, message) {
    const error = new Error(message);
    error.status = status;
    return error;
  }

  // The JSON of an endpoint's answer; an error answer or one that is not JSON throws,
  // with the endpoint's own message when it sent one.
  async function request(url, init) {
    let response;
    try {
      response = await root.fetch(url, Object.assign({ credentials: 'same-origin' }, init));
    } catch (error) {
      throw requestError(0, 'Network error: ' + (error && error.message));
    }
    const json = await response.json().catch(() => null);
    if (!response.ok) throw requestError(response.status, (json && json.error) || 'HTTP ' + response.status);
    if (json === null) throw requestError(response.status, 'The answer is not JSON.');
    return json;
  }

  // A form-encoded body: `params` first (what plugins add), then `fields`.
  function formBody(fields, params) {
    const body = new root.URLSearchParams();
    for (const name of Object.keys(params || {})) body.append(name, params[name]);
    for (const name of Object.keys(fields)) body.append(name, fields[name]);
    return body.toString();
  }

  // `url` with `params` added to its query, leaving out null and undefined values.
  function withQuery(url, params) {
    const query = new root.URLSearchParams();
    for (const name of Object.keys(params || {})) {
      if (params[name] !== null && params[name] !== undefined) query.append(name, params[name]);
    }
    return url + (url.indexOf('?') === -1 ? '?' : '&') + query.toString();
  }

  root[HANDOVER] = {
    reasonFor: reasonFor,
    errorData: errorData,
    request: request,
    formBody: formBody,
    withQuery: withQuery,
  };
})(typeof window !== 'undefined' ? window : this);
