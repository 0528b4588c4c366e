from orchestrator import run

run()
