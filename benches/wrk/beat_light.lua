-- PUT /nacos/v1/ns/instance/beat, a light beat (ip, port as parameters) for one instance.
wrk.method = "PUT"
wrk.path = "/nacos/v1/ns/instance/beat?serviceName=beat-bench&ip=10.0.0.1&port=8080"
