// Called by pusherable.js for every event of the page's subscriptions, and for
// presence: who is here, who comes and goes, and what they are doing.
const here = new Map(); // member id -> {name, intent}

function showWhoIsHere() {
  const items = [...here.values()].map((member) => {
    const item = document.createElement("li");
    item.textContent = `${member.name} is ${member.intent}`;
    return item;
  });
  document.getElementById("here").replaceChildren(...items);
}

function tell(text) {
  document.getElementById("notice").textContent = text;
}

function pusherable_notify(event, data) {
  switch (event) {
    case "pusherable:here": // once, when the page joins: the others already here
      here.clear();
      data.members.forEach((member) => here.set(member.id, member.info));
      break;
    case "pusherable:joined":
      here.set(data.member.id, data.member.info);
      break;
    case "pusherable:left":
      here.delete(data.member.id);
      break;
    case "pusherable:intent":
      here.set(data.member.id, { ...data.member.info, intent: data.intent });
      break;
    case "update":
      tell(`${data.user_name} opened the edit form.`);
      return;
    case "updated": // a colleague saved: show the new values where the page has them
      for (const [field, value] of Object.entries(data.changed)) {
        const element = document.querySelector(`[data-field="${field}"]`);
        if (element) element.textContent = value;
      }
      tell(`${data.user_name} saved: ${Object.keys(data.changed).join(", ")}.`);
      return;
    case "deleted":
      tell(`${data.user_name} deleted this article.`);
      return;
    default:
      return;
  }
  showWhoIsHere();
}
