"""The communication server's speed: simulator throughput, and what a routing decision costs.

    python benchmarks/bench_communication.py [--hours 2] [--rounds 5]   (medians of the rounds)

1. Throughput: a call centre of 180 agents, 20 queues with mixed skills and relaxation steps,
   Poisson traffic at about 85% occupancy, pushed through the real server in virtual time
   with the event log on a SQLite file in batched writes. Printed: interactions routed per
   second of wall time, events written per second; the baseline in the same run is the same
   traffic with the event log on an in-memory SQLite database (what the file costs).
2. Scaling: the cost of one routing decision (a contact arrives, the best agent is chosen and
   taken, then freed again) with 180 and 2,000 agents logged in, against a naive linear scan
   over every agent (evaluate the requirement, keep the longest idle) as the baseline.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from caruso.services.communication.model import Agent, Interaction
from caruso.services.communication.requirements import parse_requirement
from caruso.services.communication.router import Queue, Router
from caruso.services.communication.settings import (
    AgentSettings,
    CommunicationSettings,
    QueueSettings,
    StepSettings,
    TrafficSettings,
    TrafficStream,
)
from caruso.services.communication.simulation import Simulator
from caruso.services.communication.strategies import LongestIdle

SKILLS = [f"skill-{n:02d}" for n in range(20)]


def call_centre(agents: int, *, occupancy: float = 0.85, handle: float = 240.0) -> CommunicationSettings:
    """20 queues, each needing its own skill at level >= 3 at first, any level after 20 s;
    each agent holds 3 to 5 skills at random levels (seeded)."""
    rng = random.Random(42)
    queues = tuple(
        QueueSettings(name=f"q{n:02d}", requires=f"skills.{skill} >= 3",
                      steps=(StepSettings(after=20, requires=f"skills HAS '{skill}'"),))
        for n, skill in enumerate(SKILLS))
    people = tuple(
        AgentSettings(name=f"agent-{n:04d}",
                      skills={skill: rng.randint(1, 9) for skill in rng.sample(SKILLS, rng.randint(3, 5))})
        for n in range(agents))
    per_queue = occupancy * agents * 3600 / handle / len(queues)
    streams = tuple(TrafficStream(queue=q.name, per_hour=per_queue, handle_time=handle, patience=300)
                    for q in queues)
    return CommunicationSettings(skills=tuple(SKILLS), queues=queues, agents=people,
                                 traffic=TrafficSettings(streams=streams))


def throughput(hours: float, rounds: int) -> None:
    """Each round runs the file and the in-memory baseline one after the other (the same load on
    the machine for both); the table shows the median of the rounds."""
    settings = call_centre(180)
    logs = (("SQLite file, batched", None), ("SQLite in memory (baseline)", "sqlite://"))
    results: dict[str, list] = {label: [] for label, _ in logs}
    for _ in range(rounds):
        for label, database in logs:
            results[label].append(Simulator(settings, seed=1, database=database).run(hours, warmup=0.25))
    print(f"## Simulator throughput: 180 agents, 20 queues, {hours:g} simulated hours per run,"
          f" median of {rounds} rounds\n")
    print("| event log | interactions | events | wall s | routed/s | events/s | routed/s of each round |")
    print("|---|---:|---:|---:|---:|---:|---|")
    medians = {}
    for label, runs in results.items():
        wall = statistics.median(run.wall_seconds for run in runs)
        routed = medians[label] = statistics.median(run.routed_per_second for run in runs)
        events = statistics.median(run.events / run.wall_seconds for run in runs)
        each = ", ".join(f"{run.routed_per_second:,.0f}" for run in runs)
        print(f"| {label} | {runs[0].total.answered:,} | {runs[0].events:,} | {wall:.2f} |"
              f" {routed:,.0f} | {events:,.0f} | {each} |")
    file, memory = (medians[label] for label, _ in logs)
    print(f"\nfile / in memory: **{file / memory:.2f}x**; target: at least 20,000 routed/s with the file\n")


def _router(agents: int) -> tuple[Router, list[Queue], list[Agent]]:
    settings = call_centre(agents)
    router = Router()
    queues = []
    for queue_settings in settings.queues:
        queue = Queue(queue_settings, LongestIdle(queue_settings))
        router.add_queue(queue)
        queues.append(queue)
    people = []
    for order, agent_settings in enumerate(settings.agents):
        agent = Agent(agent_settings.name, skills=agent_settings.skills, order=order)
        agent.presence = "ready"
        agent.last_ended = random.random()
        people.append(agent)
    for queue in queues:  # make the targets before agents log in, as a running server has them
        router.target(queue, Interaction("probe", "voice"))
    for agent in people:
        router.login(agent)
    return router, queues, people


def decision_cost(agents: int, rounds: int, decisions: int = 20_000) -> tuple[float, float]:
    """(indexed, naive) microseconds per routing decision with ``agents`` logged in."""
    router, queues, people = _router(agents)
    requirements = [parse_requirement(q.settings.requires) for q in queues]
    rng = random.Random(1)
    picks = [rng.randrange(len(queues)) for _ in range(decisions)]
    interactions = [Interaction(f"i{n}", "voice") for n in range(decisions)]
    indexed, naive = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        for n, pick in enumerate(picks):
            interaction = interactions[n]
            interaction.target = router.target(queues[pick], interaction)
            chosen = router.best_agents(interaction)
            if chosen:
                agent = chosen[0]
                router.unavailable(agent)
                agent.last_ended += 1000.0
                router.available(agent)
        indexed.append((time.perf_counter() - started) / decisions * 1e6)
        started = time.perf_counter()
        for pick in picks:
            requirement = requirements[pick]
            best = None
            for agent in people:
                if agent.presence == "ready" and agent.can_take("voice") and requirement.matches(agent.profile):
                    if best is None or agent.last_ended < best.last_ended:
                        best = agent
            if best is not None:
                best.last_ended += 1000.0
        naive.append((time.perf_counter() - started) / decisions * 1e6)
    return statistics.median(indexed), statistics.median(naive)


def scaling(rounds: int) -> None:
    print(f"## Cost of one routing decision (median of {rounds} rounds of 20,000 decisions)\n")
    print("| agents | indexed router, us | naive linear scan, us | naive / indexed |")
    print("|---:|---:|---:|---:|")
    costs = {}
    for agents in (180, 2000):
        indexed, naive = decision_cost(agents, rounds)
        costs[agents] = indexed
        print(f"| {agents:,} | {indexed:.2f} | {naive:.2f} | {naive / indexed:.1f}x |")
    print(f"\nindexed cost at 2,000 agents / at 180 agents: **{costs[2000] / costs[180]:.2f}x** (target: at most 2x)\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=2.0, help="simulated hours per throughput run")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each benchmark (medians are shown)")
    args = parser.parse_args()
    throughput(args.hours, args.rounds)
    scaling(args.rounds)


if __name__ == "__main__":
    main()
