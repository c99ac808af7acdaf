// The agent desktop: reload the work panel when the server sends one of this agent's events,
// and fill each customer panel from its 360-degree view.
(function () {
  const panel = document.getElementById("panel");
  function fillCustomers() {
    for (const box of panel.querySelectorAll(".customer-360[data-src]")) {
      fetch(box.dataset.src, {credentials: "same-origin"})
        .then((r) => r.ok ? r.text() : Promise.reject(r.status))
        .then((html) => { box.innerHTML = html; box.removeAttribute("data-src"); })
        .catch((status) => { box.textContent = "The customer's view could not be loaded (" + status + ")."; });
    }
  }
  function reload() {
    fetch("/desktop/panel", {credentials: "same-origin"})
      .then((r) => r.text())
      .then((html) => { panel.innerHTML = html; fillCustomers(); });
  }
  fillCustomers();
  const events = new EventSource("/desktop/events");
  events.onmessage = reload;
  for (const kind of ["routed", "answered", "unanswered", "wrapup", "completed", "agent", "abandoned"]) {
    events.addEventListener(kind, reload);
  }
})();
