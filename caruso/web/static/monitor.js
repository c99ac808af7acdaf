// The supervisor's monitor: every snapshot the server pushes is written into the tables as text.
(function () {
  function row(cells, key, value) {
    const tr = document.createElement("tr");
    tr.dataset[key] = value;
    cells.forEach((cell, i) => {
      const td = document.createElement("td");
      td.textContent = cell;
      if (key === "agent" && i === 1) td.className = "state";
      tr.appendChild(td);
    });
    return tr;
  }
  function show(snapshot) {
    document.getElementById("monitor-seq").dataset.seq = snapshot.seq;
    document.querySelector("#agents tbody").replaceChildren(...snapshot.agents.map(
      (a) => row([a.name, a.state, a.contacts, a.handled_today], "agent", a.name)));
    document.querySelector("#queues tbody").replaceChildren(...snapshot.queues.map(
      (q) => row([q.name, q.waiting, Math.round(q.longest_wait), q.offered_today, q.answered_today, q.abandoned_today], "queue", q.name)));
    document.getElementById("alarms").replaceChildren(...snapshot.alarms.map((alarm) => {
      const p = document.createElement("p");
      p.className = "error alarm";
      p.textContent = alarm.message;
      return p;
    }));
  }
  const events = new EventSource("/supervisor/events");
  events.addEventListener("snapshot", (event) => show(JSON.parse(event.data)));
})();
