-- wrk script: POST submit/ with a valid task (bench/run.sh).
wrk.method = "POST"
wrk.body = '{"crm_source": "hubspot", "sync_type": "all", "parameters": {"batch_size": 10}, "priority": 0}'
wrk.headers["Content-Type"] = "application/json"
