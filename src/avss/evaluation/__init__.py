"""LLM evaluation: request records, backends, tasks, metrics, the runner, retention and reports.

Tasks build requests, backends answer them, the runner groups requests by kind; metrics are
small registered pure functions. Used by the pruning and the hallucination phases.
"""
from .backends import DummyBackend, HFBackend
from .requests import GenerateRequest, LoglikelihoodRequest, RollingRequest
from .runner import TaskResult, evaluate, load_tasks

__all__ = [
           "DummyBackend",
           "GenerateRequest",
           "HFBackend",
           "LoglikelihoodRequest",
           "RollingRequest",
           "TaskResult",
           "evaluate",
           "load_tasks",
]
