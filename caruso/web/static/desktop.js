// The agent desktop: reload the work panel when the server sends one of this agent's events,
// fill each customer panel from its 360-degree view, and append the customer's chat messages
// to their conversation as they arrive (text only: never parsed as HTML).
(function () {
  const panel = document.getElementById("panel");
  const state = document.getElementById("agent-state");
  function fillCustomers() {
    for (const box of panel.querySelectorAll(".customer-360[data-src]")) {
      fetch(box.dataset.src, {credentials: "same-origin"})
        .then((r) => r.ok ? r.text() : Promise.reject(r.status))
        .then((html) => { box.innerHTML = html; box.removeAttribute("data-src"); })
        .catch((status) => { box.textContent = "The customer's view could not be loaded (" + status + ")."; });
    }
  }
  function busy() {
    // an agent typing an answer or a message keeps what they typed: the reload waits
    const active = document.activeElement;
    return active && panel.contains(active) && (active.tagName === "TEXTAREA" ||
      (active.tagName === "INPUT" && active.type !== "hidden" && active.value !== ""));
  }
  let pending = null;
  function reload() {
    if (busy()) {
      clearTimeout(pending);
      pending = setTimeout(reload, 1000);
      return;
    }
    fetch("/desktop/panel", {credentials: "same-origin"})
      .then((r) => r.ok ? r.text() : Promise.reject(r.status))
      .then((html) => {
        panel.innerHTML = html;
        const work = panel.querySelector(".work");
        if (state && work) { state.textContent = work.dataset.state; }
        fillCustomers();
      })
      .catch(() => {});
  }
  function chatMessage(event) {
    const message = JSON.parse(event.data);
    const list = panel.querySelector(".chat-transcript[data-chat='" + CSS.escape(message.interaction) + "']");
    if (!list) { reload(); return; }
    if (list.querySelector("li[data-seq='" + CSS.escape(String(message.seq)) + "']")) { return; }
    const item = document.createElement("li");
    item.className = "from-customer";
    item.dataset.seq = message.seq;
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = message.from;
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = message.text;
    item.append(who, " ", text);
    list.append(item);
  }
  fillCustomers();
  const events = new EventSource("/desktop/events");
  events.onmessage = reload;
  for (const kind of ["routed", "answered", "unanswered", "wrapup", "completed", "agent", "abandoned",
                      "transferred"]) {
    events.addEventListener(kind, reload);
  }
  events.addEventListener("chat", chatMessage);
})();
