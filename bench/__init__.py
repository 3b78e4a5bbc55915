"""`make bench` (python -m bench): pacsflow's cost and speed figures, printed and saved as JSON.

Modules: wcu (DynamoDB write-unit arithmetic), costs (requests and write units of one
settled payment, counted in-process against a MiniStack), inprocess (the pipeline on one
core with in-memory persistence), e2e (the deployed stack driven over HTTP).
"""
