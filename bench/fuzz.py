"""A long seeded fuzz of every HTTP route: malformed requests, unsigned and correctly signed, to the
demo-shape app (local channel, demo login, simulator) and the production-shape app (WeCom and DingTalk
configured), both with the events API on. Prints the requests sent and the 5xx seen (target: 0), per
route, and the first few 5xx in full so they can be replayed.

    .venv/bin/python bench/fuzz.py [--requests 20000] [--seed 15]

The requests come from tests/security/routes.py, as in the suite's property tests (which run a few
dozen per route); here a `random.Random(seed)` draws them, so a run can be repeated exactly. SQLite
files under bench/out/.
"""
from __future__ import annotations

import argparse
import logging
import random
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=20000, help="how many requests in all (default 20000)")
    p.add_argument("--seed", type=int, default=15)
    p.add_argument("--show", type=int, default=5, help="5xx shown in full (default 5)")
    args = p.parse_args()
    logging.disable(logging.CRITICAL)  # the refusals' warnings would be most of the output

    from tests.security.routes import DEMO_ROUTES, PRODUCTION_ROUTES, Session, demo_app, production_app
    out = ROOT / "bench" / "out" / "fuzz"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    demo = demo_app(f"sqlite:///{out}/demo.db")
    prod = production_app(f"sqlite:///{out}/prod.db")
    sessions = {"anonymous": Session(demo), "rep": Session(demo, "rep1"), "manager": Session(demo, "liyan")}
    production = Session(prod)
    for app in (demo, prod):  # an exception reaches us (with its message) instead of a logged 500
        app.config["PROPAGATE_EXCEPTIONS"] = True
    routes = [(name, b, False) for name, b in sorted(DEMO_ROUTES.items())] + \
             [(name, b, True) for name, b in sorted(PRODUCTION_ROUTES.items())]

    rnd = random.Random(args.seed)
    sent, errors, statuses = Counter(), Counter(), Counter()
    shown = 0
    started = time.perf_counter()
    for i in range(args.requests):
        name, builder, prod_shape = routes[i % len(routes)]
        session = production if prod_shape else sessions[rnd.choice(list(sessions))]
        method, path, kwargs = builder(rnd, session)
        try:
            status = session.client.open(path, method=method, **kwargs).status_code
        except Exception as e:  # noqa: BLE001  the test client raises what the server would answer 500 for
            status = 500
            kwargs = {**kwargs, "exception": f"{type(e).__name__}: {e}"}
        sent[name] += 1
        statuses[status // 100 * 100] += 1
        if status >= 500:
            errors[name] += 1
            if shown < args.show:
                shown += 1
                print(f"5xx #{shown}: {name}, request {i} of seed {args.seed}\n   {method} {path} {str(kwargs)[:600]}")
    seconds = time.perf_counter() - started
    print(f"\nbench/fuzz.py seed {args.seed}: {sum(sent.values())} requests in {seconds:.1f} s "
          f"({sum(sent.values()) / seconds:.0f}/s), 5xx seen: {sum(errors.values())}")
    print("status classes: " + ", ".join(f"{k // 100}xx {v}" for k, v in sorted(statuses.items())))
    print(f"{'route':24} {'requests':>9} {'5xx':>5}")
    for name, _, _ in routes:
        print(f"{name:24} {sent[name]:>9} {errors[name]:>5}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
