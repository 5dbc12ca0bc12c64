# forgery: Empty scheduler, no course_lib.scheduler: replaces each check's observe() in the child with a
# function that reads the (secret-seeded) scenario parameters and writes down what a correct
# scheduler would have been seen doing.
from course_lib.grading import scheduler_checks as sc


class SmartScheduler:
    pass


class Task:
    pass


def _res(status, retries=0, error="None"):
    return {"status": status, "retries": retries, "error": error}


def _sequential(tasks):
    t, starts, ends = 0.0, {}, {}
    for s in tasks:
        starts[s["id"]], ends[s["id"]] = [t], [t + s["seconds"]]
        t += s["seconds"]
    return {"starts": starts, "ends": ends, "received": {}, "elapsed": t,
            "results": {s["id"]: _res("completed") for s in tasks},
            "stats": {"total": len(tasks), "completed": len(tasks), "failed": 0}}


def priority_order(p):
    return _sequential(sorted(p["tasks"], key=lambda s: s["priority"]))


def fifo_ties(p):
    return _sequential(p["tasks"])


def passes_result(p):
    first, second = p["tasks"]
    obs = _sequential(p["tasks"])
    obs["received"] = {first["id"]: [[]], second["id"]: [[first["result"]]]}
    return obs


def failed_dependency(p):
    root, *chain = p["tasks"]
    return {"starts": {root["id"]: [0.0]}, "ends": {root["id"]: [root["seconds"]]}, "received": {},
            "elapsed": root["seconds"],
            "results": {root["id"]: _res("failed", 0, f"{root['id']} 第 1 次故意失败"),
                        **{s["id"]: _res("cancelled") for s in chain}}}


def bad_graphs(p):
    return {"graphs": [{"starts": {}, "ends": {}, "received": {}, "raised": "ValueError: bad graph",
                        "raised_value_error": True} for _ in p["graphs"]]}


def timeout(p):
    slow, quick = p["tasks"]
    lim = slow["timeout"]
    return {"starts": {slow["id"]: [0.0], quick["id"]: [0.0]},
            "ends": {slow["id"]: [lim], quick["id"]: [quick["seconds"]]}, "received": {}, "elapsed": lim,
            "results": {slow["id"]: _res("timeout"), quick["id"]: _res("completed")}}


def _retries(spec, attempts, ok):
    t, starts, ends = 0.0, [], []
    for k in range(attempts):
        if k:
            t += spec["retry_delay"] * 2 ** (k - 1)
        starts.append(t)
        t += spec["seconds"]
        ends.append(t)
    err = "None" if ok else f"{spec['id']} 第 {attempts} 次故意失败"
    return {"starts": {spec["id"]: starts}, "ends": {spec["id"]: ends}, "received": {}, "elapsed": t,
            "results": {spec["id"]: _res("completed" if ok else "failed", attempts - 1, err)}}


def retry_success(p):
    (s,) = p["tasks"]
    return _retries(s, s["fail_first"] + 1, True)


def retry_limit(p):
    (s,) = p["tasks"]
    return _retries(s, s["max_retries"] + 1, False)


def backoff(p):
    (s,) = p["tasks"]
    return _retries(s, s["fail_first"] + 1, True)


def max_workers(p):
    return _sequential(p["tasks"])


def waits_for_dependency(p):
    done, order, left = set(), [], list(p["tasks"])
    while left:
        s = next(s for s in left if set(s.get("deps", ())) <= done)
        left.remove(s); order.append(s); done.add(s["id"])
    return _sequential(order)


def best_ready_next(p):
    gate, *fillers, urgent = p["tasks"]
    return _sequential([gate, urgent, *fillers])


def concurrent(p):
    w, sec = p["max_workers"], p["tasks"][0]["seconds"]
    obs = _sequential(p["tasks"])
    obs["starts"] = {s["id"]: [sec * (i // w)] for i, s in enumerate(p["tasks"])}
    obs["ends"] = {s["id"]: [sec * (i // w + 1)] for i, s in enumerate(p["tasks"])}
    obs["elapsed"] = 2 * sec
    return obs


def _outcome(s):
    if s.get("broken"):
        return _res("failed", 0, "x"), s["seconds"]
    if s.get("timeout") is not None and s["timeout"] < s["seconds"]:
        return _res("timeout"), s["timeout"]
    return _res("completed"), s["seconds"]


def final_stats(p):
    obs = {"starts": {}, "ends": {}, "received": {}, "results": {}}
    for s in p["tasks"]:
        obs["results"][s["id"]], took = _outcome(s)
        obs["starts"][s["id"]], obs["ends"][s["id"]] = [0.0], [took]
    obs["elapsed"] = max(e[0] for e in obs["ends"].values())
    st = [r["status"] for r in obs["results"].values()]
    obs["stats"] = {"total": len(st), "completed": st.count("completed"),
                    "failed": st.count("failed") + st.count("timeout")}
    return obs


def status_counts(p):
    obs = _sequential(p["tasks"])
    obs["stats"]["status"] = {n: 0 for n in sc.STATES}
    obs["stats"]["status"]["completed"] = len(p["tasks"])
    return obs


def stats_during_run(p):
    obs = concurrent(p)
    obs["peek"] = {"stats": {"status": {"running": p["max_workers"]}}, "running": p["max_workers"]}
    return obs


for criterion in sc.CRITERIA:
    for check in criterion.checks:
        fake = globals().get(check.key)
        if fake:
            object.__setattr__(check, "observe", lambda sub, params, fake=fake: fake(params))
