"""The words of `course_lib.i18n`: English for the views' Chinese text, Chinese
for the cores' English reasons and state names.

Each key is a ``str.format`` template exactly as written in the code; its
translation uses the same fields.  tests/test_i18n.py checks that every
template in the code is here, and that nothing here is unused.
"""

from __future__ import annotations

# Views (plots, dashboards, reports, event lines): Chinese -> English.
EN = {
    # progress line and text reports
    "[{bar}] 已结束 {done}/{total} | 运行中 {running} | 排队 {queued} | 完成 {completed} | 失败 {failed}"
    " | 取消 {cancelled}":
        "[{bar}] {done}/{total} done | {running} running | {queued} queued | {completed} ok"
        " | {failed} failed | {cancelled} cancelled",
    "排队 {queued} | 运行中 {running} | 完成 {completed} | 失败 {failed} | 转交 {reassigned}"
    " | 吞吐量 {throughput:.2f} 个任务/秒":
        "queued {queued} | running {running} | completed {completed} | failed {failed}"
        " | reassigned {reassigned} | throughput {throughput:.2f} tasks/s",
    "用时 {elapsed:.2f} 秒 | 吞吐量 {throughput:.2f} 个任务/秒 | 成功率 {rate:.0%} | 重试 {retries} 次":
        "elapsed {elapsed:.2f} s | throughput {throughput:.2f} tasks/s | success rate {rate:.0%}"
        " | retries {retries}",
    "…… 还有 {n} 个任务": "... {n} more tasks",
    "任务": "task",
    "优先级": "priority",
    "状态": "status",
    "尝试": "tries",
    "开始": "start",
    "结束": "end",
    "结束于（秒）": "ended (s)",
    "Agent": "agent",
    "负载": "load",
    "完成": "completed",
    "失败": "failed",
    "平均耗时": "avg",
    "{seconds:.2f} 秒": "{seconds:.2f} s",
    # stats tables
    "键": "key",
    "意思": "meaning",
    "值": "value",
    "任务总数": "tasks added",
    "已完成": "completed",
    "失败的任务数（含超时）": "tasks failed (timeouts included)",
    "失败的任务数": "tasks failed",
    "已取消": "cancelled",
    "正在运行": "running now",
    "排队中": "queued now",
    "重试次数": "retries",
    "转交次数（Agent 离线）": "reassigned (agent offline)",
    "丢弃的迟到或重复消息": "late or duplicate messages dropped",
    "成功率（完成 ÷ 已结束）": "success rate (completed / ended)",
    "进度（已结束 ÷ 总数）": "progress (ended / total)",
    "用时（秒）": "elapsed (s)",
    "吞吐量（每秒完成的任务数）": "throughput (tasks completed per second)",
    "处于 {sub} 状态的任务数": "tasks in state {sub}",
    "任务耗时的 {sub}（秒）": "task duration {sub} (s)",
    "Agent {sub} 的统计": "stats of agent {sub}",
    "同时能做几个任务": "tasks it can run at once",
    "手上的任务数": "tasks in hand",
    "平均每个任务的耗时（秒）": "average task duration (s)",
    # event lines
    "t={t:.2f} {task}：{old} → {new}": "t={t:.2f} {task} {old} -> {new}",
    "t={t:.2f} Agent {agent} → {new}": "t={t:.2f} agent {agent} -> {new}",
    "t={t:.2f} {kind} {agent}": "t={t:.2f} {kind} {agent}",
    "新任务": "new",
    "已注销": "removed",
    "，在 {agent} 上": " on {agent}",
    "（第 {n} 次尝试）": " (attempt {n})",
    "：{reason}": ": {reason}",
    "（{reason}）": " ({reason})",
    # dashboards
    "<b>调度器仪表盘</b>（SmartScheduler）": "<b>SmartScheduler</b>",
    "正在运行：{running} | 排队 {queued} | 吞吐量 {throughput:.2f} 个任务/秒":
        "running: {running} | queued {queued} | throughput {throughput:.2f} tasks/s",
    "<b>结束</b>：用时 {elapsed:.2f} 秒；完成 {completed}，失败 {failed}，取消 {cancelled}，"
    "重试 {retries} 次；成功率 {rate:.0%}；耗时 p50 {p50:.2f} 秒，p90 {p90:.2f} 秒":
        "<b>done</b> in {elapsed:.2f} s: {completed} completed, {failed} failed, "
        "{cancelled} cancelled, {retries} retries; success rate {rate:.0%}; "
        "duration p50 {p50:.2f} s, p90 {p90:.2f} s",
    "<b>Agent 仪表盘</b>（Coordinator）": "<b>Coordinator</b>",
    "{in_flight}/{capacity} · 完成 {completed}": "{in_flight}/{capacity} · done {completed}",
    # plots
    "时间（秒）": "time (s)",
    "时间（秒，从第一个事件算起）": "time (s, since the first event)",
    "时间线": "Timeline",
    "只显示前 {shown} 行（共 {total} 行）": "showing the first {shown} of {total} rows",
    "调度时间线": "Scheduler timeline",
    "只显示前 {shown} 个任务（共 {total} 个）；用 by='slot' 查看整个运行":
        "showing the first {shown} of {total} tasks; by='slot' shows the whole run",
    "{n} 次尝试：为了可读性隐藏了任务名": "{n} attempts: task names hidden to keep the plot readable",
    "工作槽 {i}": "slot {i}",
    "排队": "queued",
    "等依赖": "waiting for deps",
    "退避": "backoff",
    "任务依赖图": "Task graph",
    "层（拓扑世代）": "layer (topological generation)",
    "任务数": "tasks",
    "{n} 个任务：按层汇总显示": "{n} tasks: counted per layer",
    "Agent 时间线": "Agent timeline",
    "{n} 次心跳：为了可读性没有画出": "{n} heartbeats: not drawn",
    "{n} 次尝试：隐藏了任务名": "{n} attempts: task names hidden",
    "失败（换人重试）": "failed (retried)",
    "被转走": "reassigned",
    "离线": "offline",
    "暂停": "paused",
    "指数退避的等待时间": "Exponential backoff delays",
    "第几次重试": "retry number",
    "等待（秒）": "delay (s)",
    "重试到达服务器的时刻（秒）": "when retries hit the server (s)",
    "{n} 个请求，错误率 {rate:.1%}": "{n} requests, error rate {rate:.1%}",
    "耗时（秒）": "latency (s)",
    "请求数": "requests",
    "{name} = {value:.3f} 秒": "{name} = {value:.3f} s",
    "各组数量": "Counts per group",
    "数量": "count",
    # the worker command line (course_lib.agents.worker)
    "--agent {spec!r} 既不是内置 Agent（{builtin}），也不是 package.module:ClassName 的形式":
        "--agent {spec!r} is neither a built-in agent ({builtin}) nor package.module:ClassName",
    "导入 {module} 失败：{error}（这个模块在 worker 的 Python 路径上吗？）":
        "cannot import {module}: {error} (is it on the worker's Python path?)",
    "{module} 里没有名为 {name} 的 BaseAgent 子类": "{module} has no BaseAgent subclass named {name}",
    "导入 {module} 时它自己出错了：{kind}: {error}": "importing {module} failed inside it: {kind}: {error}",
    "--grace 应为不小于 0 的秒数，收到 {value!r}": "--grace must be a number of seconds >= 0, got {value!r}",
    "--redis 不是可用的地址：{error}（形如 redis://[:密码@]主机:端口/库号，TLS 用 rediss://）":
        "--redis is not a usable URL: {error} (redis://[:password@]host:port/db, rediss:// for TLS)",
    "{option} 不能为空，也不能以空格开头或结尾，收到 {value!r}":
        "{option} must not be empty or start or end with spaces, got {value!r}",
    "收到停止信号；{seconds:g} 秒内没能告别（Redis 连不上？），直接退出":
        "stop signal received; could not say goodbye within {seconds:g} s (Redis unreachable?), "
        "exiting anyway",
    "{name}(agent_id) 无法创建：{error}（它的 __init__ 应该只需要 agent_id）":
        "{name}(agent_id) failed: {error} (its __init__ should need only the agent id)",
    "--capacity 应为正整数，收到 {value!r}": "--capacity must be a positive integer, got {value!r}",
    "收到停止信号，已告别": "stop signal received; said goodbye",
    "协调器注销了这个 Agent": "the coordinator unregistered this agent",
    "worker 无法启动：{error}": "the worker cannot start: {error}",
    "worker 已中断": "worker interrupted",
    "worker 需要 redis-py：pip install redis（{error}）": "the worker needs redis-py: pip install redis ({error})",
    "{agent} 已启动：命名空间 {namespace}，能力 {capabilities}，容量 {capacity}":
        "{agent} started: namespace {namespace}, capabilities {capabilities}, capacity {capacity}",
    "{agent} 被协调器拒绝：{error}": "{agent} was refused by the coordinator: {error}",
    "{agent} 出错停止：{kind}: {error}": "{agent} stopped on an error: {kind}: {error}",
    "{agent} 已停止：{why}": "{agent} stopped: {why}",
}

# Reasons the cores record (`course_lib.i18n.Reason`): English -> Chinese.
ZH = {
    "registered": "已注册",
    "unregistered": "已注销",
    "heard from again": "又收到了它的心跳",
    "no heartbeat for {seconds:g} s": "{seconds:g} 秒没有心跳",
    "agent {agent} went offline": "{agent} 掉线了",
    "agent {agent} was unregistered": "{agent} 被注销了",
    "attempt {attempt} failed on {agent}: {error}": "第 {attempt} 次尝试在 {agent} 上失败：{error}",
    "late or duplicate result: {why}": "迟到或重复的结果：{why}",
    "unknown task": "没有这个任务",
    "the task already ended {state}": "任务已经结束（{state}）",
    "that attempt was taken away; the task is on attempt {attempt} ({state}, agent {agent})":
        "这次尝试已经被收回；任务现在是第 {attempt} 次尝试（{state}，在 {agent} 上）",
    "malformed {what} message: {error}": "格式不对的 {what} 消息：{error}",
    "could not save or send ({error}); trying again with the next message":
        "没能保存或发送（{error}）；处理下一条消息时会再试",
    "its run() loop raised {error}": "它的 run() 循环抛出了 {error}",
    "crash()": "crash()：模拟崩溃",
    "pause({seconds:g})": "pause({seconds:g})：沉默 {seconds:g} 秒",
    "pause ended": "沉默结束",
    "agent {agent} restarted": "{agent} 重启了",
    "agent {agent} stopped": "{agent} 停下了",
    "said goodbye": "主动告别",
    "the coordinator stopped": "协调器已停止",
    "replaced by a new run of the agent": "被同名 Agent 的新进程取代",
    "malformed entry in the inbox of {address}: {detail}": "{address} 的收件箱里有一条格式不对的记录：{detail}",
    "bus {kind}: {detail}": "消息总线 {kind}：{detail}",
    "resumed after a coordinator restart": "协调器重启后接着做",
}

# Names of states and event kinds (Enum values): English -> Chinese.
NAMES = {
    # scheduler tasks
    "pending": "待运行",
    "waiting": "等依赖",
    "running": "运行中",
    "completed": "完成",
    "failed": "失败",
    "timeout": "超时",
    "cancelled": "已取消",
    # agent tasks and agents
    "queued": "排队",
    "idle": "空闲",
    "busy": "忙碌",
    "offline": "离线",
    # agent events
    "task": "任务",
    "agent": "Agent",
    "heartbeat": "心跳",
    "crash": "崩溃",
    "pause": "暂停",
    "resume": "恢复",
    "ignored": "已忽略",
    "bus": "消息总线",
}
