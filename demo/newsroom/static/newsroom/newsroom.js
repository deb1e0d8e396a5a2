/*
 * The newsroom's pusherable_notify: django-pusherable calls it for every event
 * of the channels the page subscribed to.
 *
 * On an article's pages (its presence channel):
 * - pusherable:here / joined / left / intent keep the presence bar
 *   ("Alice is viewing", "Bob is editing");
 * - view / update / delete (someone opened a page) go to the activity list;
 * - updated puts the changed fields on the page (an open edit form is merged by
 *   pusherable-forms.js: untouched fields take the new values, the others show
 *   them with "Use theirs");
 * - pusherable:conflict (from pusherable.js: the open form is now older than
 *   the article) says who changed what since the form was opened; saving such
 *   a form is refused by the server with the same news;
 * - deleted shows a banner and locks the form.
 *
 * On the article list (the model's channel): created / updated / deleted add,
 * change and remove rows, newest first.
 */
(function () {
  "use strict";

  const body = document.body;
  const me = body.dataset.userId; // str(user.pk), like the events' user ids
  const choicesElement = document.getElementById("newsroom-choices");
  const choices = choicesElement ? JSON.parse(choicesElement.textContent) : {};
  const form = document.getElementById("article-form");
  const rows = document.getElementById("article-rows"); // the article list

  /** Everyone else on this article: user id -> {name, intent}. */
  const members = new Map();
  /** Display names seen in events (user id -> "Bob"), for pusherable:conflict. */
  const knownNames = new Map();

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
    if (data.user_id != null && data.user_name) {
      knownNames.set(String(data.user_id), data.user_name);
    }
    const member = members.get(String(data.user_id));
    const known = knownNames.get(String(data.user_id));
    return data.user_name || known || (member && member.name) || data.user || "Someone";
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
      field: previous ? previous.field : null,
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
      text.textContent =
        member.name +
        " " +
        (member.field ? "is editing " + member.field : INTENT_WORDS[member.intent] || member.intent);
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

  function onUpdated(data) {
    const who = actor(data);
    const fromMe = who === "You";
    if (data.truncated) {
      showNotice(who + " changed this article. ", { reload: true });
      return;
    }
    const changed = data.changed || {};
    const names = Object.keys(changed);
    for (const name of names) {
      for (const element of document.querySelectorAll('[data-field="' + name + '"]')) {
        element.textContent = displayValue(name, changed[name]);
        if (name === "status") {
          element.className = "status status-" + changed[name];
        }
        flash(element);
      }
    }
    const lastChange = document.getElementById("last-change");
    if (lastChange) {
      lastChange.textContent = "updated just now by " + who;
    }
    const fields = joinWords(names.map(fieldLabel)) || "this article";
    logActivity(who + " changed " + fields.toLowerCase());
    if (fromMe) {
      return; // saved from another tab of mine: nothing to warn about here
    }
    if (form) {
      // The library tells an open form it is out of date: pusherable:conflict.
      return;
    }
    showNotice(who + " just changed " + fields + ".");
  }

  // --8<-- [start:conflict]
  /** The form is older than the article: say who changed what since it was opened. */
  function onConflict(data) {
    if (data.deleted || !form) {
      return; // a deletion has its banner
    }
    const people = [];
    const labels = [];
    const details = [];
    for (const change of data.changes || []) {
      let who = actor({ user_id: change.user_id, user: change.user });
      who = who === "You" ? "you (in another tab)" : who;
      if (!people.includes(who)) {
        people.push(who);
      }
      for (const [name, field] of Object.entries(change.fields || {})) {
        if (!labels.includes(field.label)) {
          labels.push(field.label);
        }
        const item = document.createElement("li");
        item.textContent =
          field.label + ": " + quote(name, field.old) + " \u2192 " + quote(name, field.new);
        details.push(item);
      }
    }
    const fields = joinWords(labels) || "the article";
    // pusherable-forms.js merged the form first and marked what it kept of the user's.
    const rows = new Set();
    for (const control of form.querySelectorAll('[data-pusherable-state="conflict"]')) {
      const row = control.closest("[data-field-row]");
      if (row) {
        rows.add(row.dataset.fieldRow);
      }
    }
    const kept = Array.from(rows, fieldLabel);
    let text = "Changed by " + joinWords(people) + " since you opened this form: " + fields + ".";
    if (kept.length) {
      text += " Your edits to " + joinWords(kept) + " are kept; check them before saving.";
    }
    const list = document.createElement("ul");
    list.className = "conflict-fields";
    list.append(...details);
    const help = document.createElement("p");
    help.className = "conflict-help";
    help.textContent = "If you save anyway, you are first shown what you would overwrite.";
    showNotice(text, { reload: true, extra: [list, help] });
  }
  // --8<-- [end:conflict]

  function quote(name, value) {
    const text = displayValue(name, value);
    if (text === "") {
      return "(empty)";
    }
    return "\u201c" + (text.length > 60 ? text.slice(0, 59) + "\u2026" : text) + "\u201d";
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
    if (options && options.extra) {
      notice.append(...options.extra);
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

  /* The live article list ---------------------------------------------- */

  const authorsElement = document.getElementById("newsroom-authors");
  const authors = authorsElement ? JSON.parse(authorsElement.textContent) : {};

  /** The list's "live" line: shown once subscribed, hidden for those refused. */
  function setListState(state, text) {
    const line = document.getElementById("list-live");
    if (!line) {
      return;
    }
    line.dataset.state = state;
    line.textContent = text;
    line.hidden = !text;
  }

  function showListNews(text) {
    const news = document.getElementById("list-news");
    if (news) {
      news.textContent = text;
      news.hidden = false;
      flash(news);
    }
  }

  function detailUrl(pk) {
    return rows.dataset.detailUrl.replace(/\/0\/$/, "/" + encodeURIComponent(pk) + "/");
  }

  function cell(row, field) {
    return row.querySelector('[data-field="' + field + '"]');
  }

  function newRow(pk) {
    const row = document.createElement("tr");
    row.dataset.pk = String(pk);
    const link = document.createElement("a");
    link.href = detailUrl(pk);
    link.dataset.field = "title";
    const status = document.createElement("span");
    status.dataset.field = "status";
    const cells = [link, "section", status, "author", document.createElement("time")].map(
      (content) => {
        const td = document.createElement("td");
        if (typeof content === "string") {
          td.dataset.field = content;
        } else {
          td.append(content);
        }
        return td;
      }
    );
    row.append(...cells);
    return row;
  }

  /** Adds or refreshes the article's row, and moves it to the top (newest first). */
  function showRow(data) {
    const article = data.object || {};
    let row = rows.querySelector('tr[data-pk="' + CSS.escape(String(data.pk)) + '"]');
    if (!row) {
      row = newRow(data.pk);
    }
    cell(row, "title").textContent = article.title;
    cell(row, "section").textContent = displayValue("section", article.section);
    const status = cell(row, "status");
    status.textContent = displayValue("status", article.status);
    status.className = "status status-" + article.status;
    const authorId = article.author == null ? null : String(article.author);
    let author = authorId === null ? "—" : authors[authorId];
    if (author === undefined) {
      author = authorId === String(data.user_id) ? actor(data) : "—";
    }
    cell(row, "author").textContent = author;
    const time = row.querySelector("time");
    time.dateTime = new Date().toISOString();
    time.textContent = "just now";
    for (const empty of rows.querySelectorAll(".empty-row")) {
      empty.remove();
    }
    rows.prepend(row);
    flash(row);
  }

  function removeRow(pk) {
    const row = rows.querySelector('tr[data-pk="' + CSS.escape(String(pk)) + '"]');
    if (row) {
      row.remove();
    }
    if (!rows.querySelector("tr[data-pk]") && !rows.querySelector(".empty-row")) {
      const empty = document.createElement("tr");
      empty.className = "empty-row";
      const td = document.createElement("td");
      td.colSpan = 5;
      td.className = "empty";
      td.textContent = "No articles yet.";
      empty.append(td);
      rows.append(empty);
    }
  }

  function titleOf(data) {
    const article = data.object;
    return article && article.title ? "\u201c" + article.title + "\u201d" : "an article";
  }

  /** An article was added, changed or deleted somewhere: the list follows. */
  function onListEvent(event, data) {
    const who = actor(data);
    if (event === "deleted") {
      removeRow(data.pk);
      showListNews(who + " deleted " + titleOf(data) + ".");
    } else if (data.truncated) {
      // Too large to carry the article: say so, and let the user reload.
      showListNews(who + " changed an article. ");
      const link = document.createElement("a");
      link.href = window.location.pathname;
      link.textContent = "Reload";
      document.getElementById("list-news").append(link);
    } else {
      showRow(data);
      const verb = event === "created" ? " added " : " changed ";
      showListNews(who + verb + titleOf(data) + ".");
    }
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
    // pusherable-fields.js: the field another editor is in ("Bob is editing Body").
    "pusherable:field"(data) {
      const member = members.get(String(data.member.id));
      if (member) {
        member.field = data.label;
        renderPresence();
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
    "pusherable:conflict": onConflict,
  };

  // The article list listens to the model's channel: every article, three events.
  const listHandlers = {
    "pusherable:subscribed"() {
      setListState("live", "Live: new, changed and deleted articles show up here.");
    },
    "pusherable:state"(data) {
      if (data.current === "unavailable" || data.current === "failed") {
        setListState("offline", "The live server cannot be reached; retrying…");
      }
    },
    "pusherable:error"(data) {
      if (data.reason === "pusher_js_missing") {
        setListState("offline", "pusher-js is missing: run npm ci, then reload.");
      } else if (data.source === "subscribe") {
        // A reader is refused the channel: the page works as it is, without news.
        setListState("refused", "");
      }
    },
    created: (data) => onListEvent("created", data),
    updated: (data) => onListEvent("updated", data),
    deleted: (data) => onListEvent("deleted", data),
  };

  window.pusherable_notify = function (event, data) {
    const handler = (rows ? listHandlers : handlers)[event];
    if (handler) {
      handler(data || {});
    }
  };
  // --8<-- [end:notify]
})();
