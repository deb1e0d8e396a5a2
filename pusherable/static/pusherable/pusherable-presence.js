/*
 * pusherable-presence.js: who is on an object's presence channel, for django-pusherable.
 *
 * Loaded by {% pusherable_script %} right after pusherable.js, which it plugs into
 * (pusherable.use). On every presence channel of the page it keeps the other users
 * (one entry per user, however many tabs; never this page's own user), holds a leave
 * back for the grace period (config.presenceGracePeriod) so that a reload shows
 * nothing, sends this page's intent with the channel authorization, and notifies:
 *
 *   pusherable:here    {channel, members: [{id, info}], me}   once, when the page joins
 *   pusherable:joined  {channel, member: {id, info}}          a user's first tab
 *   pusherable:left    {channel, member: {id, info}}          a user's last tab, after
 *                                                             the grace period
 *   pusherable:intent  {channel, member: {id, info}, intent}  viewing/editing
 *
 * After a reconnection only the difference is reported. It adds pusherable.members(),
 * pusherable.me() and pusherable.setIntent() to the API, and runs the plugins'
 * presence(channel, event, data) hook after here/joined/left.
 *
 * Plain ES2017, no build step.
 */
(function (root) {
  'use strict';

  const pusherable = root.pusherable;
  if (!pusherable || typeof pusherable.use !== 'function') {
    if (root.console) root.console.warn('pusherable-presence.js: load pusherable.js first.');
    return;
  }
  if (typeof pusherable.setIntent === 'function') return; // loaded twice

  let host = null;
  const channels = new Map(); // presence channel name -> its state

  function copyMember(member) {
    return member ? { id: member.id, info: Object.assign({}, member.info) } : null;
  }

  function intentOf(member) {
    return member && member.info ? member.info.intent : undefined;
  }

  // The state of a presence channel the page is on, or null for any other channel.
  function presenceOf(name) {
    const channel = host && host.channel(name);
    if (!channel || channel.type !== 'presence') return null;
    let presence = channels.get(name);
    if (!presence) {
      presence = {
        name: name,
        intent: null, // this page's intent, the last one declared
        authorizedIntent: null, // the one sent with the last authorization
        synced: false,
        me: null,
        members: new Map(), // user id -> {id, info}: the others
        leaving: new Map(), // user id -> timer of a leave held back
        intents: new Map(), // user id -> an intent that arrived before its member
      };
      channels.set(name, presence);
    }
    return presence;
  }

  function notify(presence, event, data) {
    host.notify(presence.name, event, data);
    host.run('presence', presence.name, event, data);
  }

  function here(presence) {
    return {
      channel: presence.name,
      members: Array.from(presence.members.values(), copyMember),
      me: copyMember(presence.me),
    };
  }

  // pusher-js's members as the server listed them on (re)subscribing.
  function sync(presence, members) {
    const me = members && members.me ? { id: String(members.me.id), info: members.me.info || {} } : null;
    presence.me = me;
    const current = new Map();
    if (members && typeof members.each === 'function') {
      members.each((member) => {
        const id = String(member.id);
        if (me && id === me.id) return; // my own tabs are never "others"
        current.set(id, { id: id, info: Object.assign({}, member.info) });
      });
    }
    for (const member of current.values()) applyPendingIntent(presence, member);
    if (!presence.synced) {
      presence.synced = true;
      presence.members = current;
      notify(presence, 'pusherable:here', here(presence));
      return;
    }
    // Subscribed again after a reconnection: report the difference only.
    for (const [id, member] of current) {
      if (presence.leaving.has(id)) {
        root.clearTimeout(presence.leaving.get(id));
        presence.leaving.delete(id);
        presence.members.set(id, member);
      } else if (!presence.members.has(id)) {
        presence.members.set(id, member);
        notify(presence, 'pusherable:joined', { channel: presence.name, member: copyMember(member) });
      }
    }
    for (const id of Array.from(presence.members.keys())) {
      if (!current.has(id) && !presence.leaving.has(id)) scheduleLeave(presence, id);
    }
  }

  function applyPendingIntent(presence, member) {
    if (!presence.intents.has(member.id)) return;
    member.info = Object.assign({}, member.info, { intent: presence.intents.get(member.id) });
    presence.intents.delete(member.id);
  }

  function memberAdded(presence, member) {
    const id = String(member.id);
    if (presence.me && id === presence.me.id) return; // another tab of mine
    const next = { id: id, info: Object.assign({}, member.info) };
    applyPendingIntent(presence, next);
    if (presence.leaving.has(id)) {
      // Back within the grace period (a reload): the others see nothing, unless
      // the new page declared another intent.
      root.clearTimeout(presence.leaving.get(id));
      presence.leaving.delete(id);
      const previous = presence.members.get(id);
      presence.members.set(id, next);
      if (intentOf(previous) !== intentOf(next) && intentOf(next) !== undefined) {
        notify(presence, 'pusherable:intent', { channel: presence.name, member: copyMember(next), intent: intentOf(next) });
      }
      return;
    }
    if (presence.members.has(id)) return; // a second tab, on a server that reports tabs
    presence.members.set(id, next);
    notify(presence, 'pusherable:joined', { channel: presence.name, member: copyMember(next) });
  }

  function memberRemoved(presence, member) {
    const id = String(member.id);
    if (presence.me && id === presence.me.id) return;
    if (!presence.members.has(id) || presence.leaving.has(id)) return;
    scheduleLeave(presence, id);
  }

  // Whether pusher-js still lists the user (who came back on another tab).
  function stillPresent(presence, id) {
    const channel = pusherable.pusher && pusherable.pusher.channel(presence.name);
    const members = channel && channel.members;
    return Boolean(members && typeof members.get === 'function' && members.get(id));
  }

  function scheduleLeave(presence, id) {
    const leave = () => {
      presence.leaving.delete(id);
      // While this page itself is offline nobody can tell; the next subscription
      // reports the difference.
      if (pusherable.state() !== 'connected') return;
      if (stillPresent(presence, id) || !presence.members.has(id)) return;
      const member = presence.members.get(id);
      presence.members.delete(id);
      notify(presence, 'pusherable:left', { channel: presence.name, member: copyMember(member) });
    };
    const grace = Number(host.config.presenceGracePeriod) || 0;
    if (grace <= 0) {
      leave();
    } else {
      presence.leaving.set(id, root.setTimeout(leave, grace));
    }
  }

  function intentChanged(presence, data) {
    if (!data || data.user_id == null || typeof data.intent !== 'string') return;
    const id = String(data.user_id);
    if (presence.me && id === presence.me.id) {
      presence.me.info = Object.assign({}, presence.me.info, { intent: data.intent });
      return;
    }
    const member = presence.members.get(id);
    if (!member) {
      presence.intents.set(id, data.intent); // arrived before the member: keep it for the join
      return;
    }
    member.info = Object.assign({}, member.info, { intent: data.intent });
    notify(presence, 'pusherable:intent', { channel: presence.name, member: copyMember(member), intent: data.intent });
  }

  // --- the API ---------------------------------------------------------------------------

  async function setIntent(channel, intent) {
    const presence = presenceOf(channel);
    if (!presence) {
      throw new Error('pusherable.setIntent: the page is not subscribed to presence channel ' + channel);
    }
    presence.intent = String(intent);
    if (presence.me) presence.me.info = Object.assign({}, presence.me.info, { intent: presence.intent });
    const socketId = host.socketId();
    if (!host.channel(channel).subscribed || !socketId) return null; // sent with the next authorization instead
    presence.authorizedIntent = presence.intent;
    const url = host.config.endpoints.intent;
    try {
      if (!url) throw Object.assign(new Error('pusherable.urls is not included: no intent endpoint.'), { status: null });
      return await host.post(url, { socket_id: socketId, channel_name: channel, intent: presence.intent });
    } catch (error) {
      const reason = url ? null : 'no_intent_endpoint';
      host.notify(channel, 'pusherable:error', pusherable.helpers.errorData(channel, 'intent', error, reason));
      throw error;
    }
  }

  function members(channel) {
    const presence = channels.get(channel);
    return presence ? Array.from(presence.members.values(), copyMember) : [];
  }

  function me(channel) {
    const presence = channels.get(channel);
    return presence ? copyMember(presence.me) : null;
  }

  pusherable.setIntent = setIntent;
  pusherable.members = members;
  pusherable.me = me;

  // --- the hooks -------------------------------------------------------------------------

  pusherable.use({
    name: 'presence',
    start(api) {
      host = api;
      // Plugged in after the page started: take the members pusher-js already has.
      for (const channel of host.channels()) {
        const pusherChannel = channel.subscribed && pusherable.pusher.channel(channel.name);
        if (channel.type === 'presence' && pusherChannel) sync(presenceOf(channel.name), pusherChannel.members);
      }
    },
    declare(channel, declaration) {
      const presence = presenceOf(channel);
      if (!presence || !declaration.intent || declaration.intent === presence.intent) return;
      presence.intent = declaration.intent; // the last declared intent wins
      if (host.channel(channel).subscribed) setIntent(channel, presence.intent).catch(() => {});
    },
    authorize(channel, fields) {
      const presence = presenceOf(channel);
      if (!presence || !presence.intent) return;
      fields.intent = presence.intent;
      presence.authorizedIntent = presence.intent;
    },
    subscribed(channel, data) {
      const presence = presenceOf(channel);
      if (!presence) return;
      sync(presence, data);
      // The intent changed while the authorization was on its way: send it now.
      if (presence.intent && presence.intent !== presence.authorizedIntent) {
        setIntent(channel, presence.intent).catch(() => {});
      }
    },
    late(channel, handler) {
      const presence = presenceOf(channel);
      if (presence && presence.synced) host.deliverTo(handler, channel, 'pusherable:here', here(presence));
    },
    protocol(channel, event, data) {
      const presence = presenceOf(channel);
      if (!presence || !data) return;
      if (event === 'pusher:member_added') memberAdded(presence, data);
      else if (event === 'pusher:member_removed') memberRemoved(presence, data);
    },
    server(channel, event, data) {
      const presence = presenceOf(channel);
      if (presence && event === host.config.protocol.libraryEventPrefix + 'intent') intentChanged(presence, data);
    },
    unsubscribed(channel) {
      const presence = channels.get(channel);
      if (!presence) return;
      for (const timer of presence.leaving.values()) root.clearTimeout(timer);
      channels.delete(channel);
    },
  });
})(typeof window !== 'undefined' ? window : this);
