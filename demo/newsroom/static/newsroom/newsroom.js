/*
 * The newsroom's pusherable_notify: django-pusherable calls it for every event
 * on the article's presence channel.
 *
 * - pusherable:here / joined / left / intent keep the presence bar
 *   ("Alice is viewing", "Bob is editing");
 * - view / update / delete (someone opened a page) go to the activity list;
 * - updated puts the changed fields on the page; an open edit form takes the
 *   new value of the fields its user has not touched, flags the others, and
 *   says who changed what;
 * - deleted shows a banner and locks the form.
 */
(function () {
  "use strict";

  const body = document.body;
  const me = body.dataset.userId; // str(user.pk), like the events' user ids
  const choicesElement = document.getElementById("newsroom-choices");
  const choices = choicesElement ? JSON.parse(choicesElement.textContent) : {};
  const form = document.getElementById("article-form");

  /** Everyone else on this article: user id -> {name, intent}. */
  const members = new Map();

  const INTENT_WORDS = { viewing: "is viewing", editing: "is editing" };

  function displayName(info, id) {
    info = info || {};
    return info.name || info.full_name || info.username || "User " + id;
  }

  /** Who did what an event says: "You", the name the views add, or the username. */
  function actor(data) {
    if (data.user_id != null && String(data.user_id) === me) {
      return "You";
    }
    const member = members.get(String(data.user_id));
    return data.user_name || (member && member.name) || data.user || "Someone";
  }

  function fieldLabel(name) {
    const label = form && form.querySelector('label[for="id_' + name + '"]');
    const text = label ? label.textContent.replace(/:\s*$/, "") : name.replace(/_/g, " ");
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  function displayValue(name, value) {
    if (value == null) {
      return "";
    }
    const labels = choices[name];
    return labels && labels[value] !== undefined ? labels[value] : String(value);
  }

  function joinWords(words) {
    if (words.length < 2) {
      return words.join("");
    }
    return words.slice(0, -1).join(", ") + " and " + words[words.length - 1];
  }

  /* Presence bar ------------------------------------------------------- */

  function setMember(member) {
    const id = String(member.id);
    if (id === me) {
      return; // my own other tabs
    }
    const info = member.info || {};
    const previous = members.get(id);
    members.set(id, {
      name: displayName(info, id),
      intent: (previous && previous.intent) || info.intent || "viewing",
    });
  }

  /** "live" once subscribed; "connecting", "offline" or "refused" otherwise, said in words. */
  function setPresenceState(state, text) {
    const bar = document.getElementById("presence");
    if (!bar) {
      return;
    }
    bar.dataset.state = state;
    bar.querySelector(".presence-status").textContent = text;
  }

  function renderPresence() {
    const bar = document.getElementById("presence");
    if (!bar) {
      return;
    }
    const list = bar.querySelector(".presence-list");
    list.replaceChildren();
    for (const [id, member] of members) {
      const item = document.createElement("li");
      item.className = "member intent-" + member.intent;
      item.dataset.userId = id;
      const avatar = document.createElement("span");
      avatar.className = "avatar";
      avatar.textContent = member.name.charAt(0).toUpperCase();
      avatar.style.setProperty("--hue", String((Number(id) * 137) % 360));
      const text = document.createElement("span");
      text.textContent = member.name + " " + (INTENT_WORDS[member.intent] || member.intent);
      item.append(avatar, text);
      list.append(item);
    }
    bar.dataset.count = String(members.size);
  }

  /* Activity list ------------------------------------------------------ */

  function logActivity(text) {
    const list = document.getElementById("activity");
    if (!list) {
      return;
    }
    const item = document.createElement("li");
    const time = document.createElement("time");
    time.textContent = new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    item.append(time, " " + text);
    list.prepend(item);
    while (list.children.length > 8) {
      list.lastElementChild.remove();
    }
  }

  /* Live changes ------------------------------------------------------- */

  function flash(element) {
    element.classList.remove("flash");
    void element.offsetWidth; // restart the animation
    element.classList.add("flash");
  }

  function isUntouched(input) {
    if (input.tagName === "SELECT") {
      const initial = Array.from(input.options).find((option) => option.defaultSelected);
      return input.value === (initial ? initial.value : input.options[0].value);
    }
    return input.value === input.defaultValue;
  }

  function setInitial(input, value) {
    if (input.tagName === "SELECT") {
      for (const option of input.options) {
        option.defaultSelected = option.value === value;
      }
    } else {
      input.defaultValue = value;
    }
    input.value = value;
  }

  /** Puts a saved value into the edit form; returns whether the user's own edit was kept. */
  function applyToForm(name, value, who) {
    const input = form.elements[name];
    if (!input) {
      return false;
    }
    const text = value == null ? "" : String(value);
    const row = form.querySelector('[data-field-row="' + name + '"]');
    const note = row && row.querySelector(".remote-change");
    if (isUntouched(input)) {
      setInitial(input, text);
      flash(input);
      if (note) {
        note.hidden = true;
      }
      return false;
    }
    // The user has typed something here: keep it, and show what was saved.
    row.classList.add("conflict");
    if (note) {
      note.textContent = who + " saved: " + displayValue(name, value);
      note.hidden = false;
    }
    return true;
  }

  function onUpdated(data) {
    const who = actor(data);
    const fromMe = who === "You";
    if (data.truncated) {
      showNotice(who + " changed this article. ", { reload: true });
      return;
    }
    const changed = data.changed || {};
    const names = Object.keys(changed);
    const kept = [];
    for (const name of names) {
      for (const element of document.querySelectorAll('[data-field="' + name + '"]')) {
        element.textContent = displayValue(name, changed[name]);
        if (name === "status") {
          element.className = "status status-" + changed[name];
        }
        flash(element);
      }
      if (form && applyToForm(name, changed[name], who)) {
        kept.push(fieldLabel(name));
      }
    }
    const lastChange = document.getElementById("last-change");
    if (lastChange) {
      lastChange.textContent = "updated just now by " + who;
    }
    const fields = joinWords(names.map(fieldLabel)) || "this article";
    logActivity(who + " changed " + fields.toLowerCase());
    if (fromMe) {
      return; // saved from another tab of mine: nothing to warn about
    }
    if (form) {
      let text = "Changed by " + who + " since you opened this form: " + fields + ".";
      if (kept.length) {
        text += " Your edits to " + joinWords(kept) + " are kept; check them before saving.";
      }
      showNotice(text, { reload: true });
    } else {
      showNotice(who + " just changed " + fields + ".");
    }
  }

  function showNotice(text, options) {
    const notice = document.getElementById("changed-notice");
    if (!notice) {
      return;
    }
    notice.replaceChildren(text);
    if (options && options.reload) {
      const link = document.createElement("a");
      link.href = window.location.pathname;
      link.textContent = "Reload";
      notice.append(" ", link);
    }
    notice.hidden = false;
    flash(notice);
  }

  function onDeleted(data) {
    const who = actor(data);
    const banner = document.getElementById("deleted-banner");
    if (banner) {
      const strong = document.createElement("strong");
      strong.textContent =
        who === "You" ? "You deleted this article in another tab." : who + " deleted this article.";
      const link = document.createElement("a");
      link.href = body.dataset.listUrl;
      link.textContent = "Back to the articles";
      banner.replaceChildren(strong, " ", link);
      banner.hidden = false;
    }
    body.classList.add("is-deleted");
    for (const element of document.querySelectorAll("#article-form, #delete-form")) {
      for (const control of element.elements) {
        control.disabled = true;
      }
    }
    logActivity(who + " deleted this article");
  }

  /* The callback -------------------------------------------------------- */

  // --8<-- [start:notify]
  const handlers = {
    "pusherable:here"(data) {
      members.clear();
      for (const member of data.members || []) {
        setMember(member);
      }
      setPresenceState("live", "");
      renderPresence();
    },
    "pusherable:joined"(data) {
      setMember(data.member);
      renderPresence();
      const member = members.get(String(data.member.id));
      if (member) {
        logActivity(member.name + " joined");
      }
    },
    "pusherable:left"(data) {
      const id = String(data.member.id);
      const member = members.get(id);
      members.delete(id);
      renderPresence();
      if (member) {
        logActivity(member.name + " left");
      }
    },
    "pusherable:intent"(data) {
      const id = String(data.member.id);
      if (id === me) {
        return;
      }
      setMember(data.member);
      members.get(id).intent = data.intent;
      renderPresence();
    },
    "pusherable:state"(data) {
      // Back to "live" with the next pusherable:here, once resubscribed.
      if (data.current === "unavailable" || data.current === "failed") {
        setPresenceState("offline", "The live server cannot be reached; retrying…");
      } else if (data.previous === "connected" && data.current !== "connected") {
        setPresenceState("offline", "Reconnecting…");
      }
    },
    "pusherable:error"(data) {
      if (data.reason === "pusher_js_missing") {
        setPresenceState("offline", "pusher-js is missing: run npm ci, then reload.");
      } else if (data.source === "subscribe") {
        members.clear();
        renderPresence();
        setPresenceState("refused", "Only editors see who is working on an article.");
      }
    },
    view(data) {
      logActivity(actor(data) + " opened this article");
    },
    update(data) {
      logActivity(actor(data) + " opened the edit form");
    },
    delete(data) {
      logActivity(actor(data) + " is looking at the delete page");
    },
    updated: onUpdated,
    deleted: onDeleted,
  };

  window.pusherable_notify = function (event, data) {
    const handler = handlers[event];
    if (handler) {
      handler(data || {});
    }
  };
  // --8<-- [end:notify]
})();
