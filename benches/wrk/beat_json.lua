-- PUT /nacos/v1/ns/instance/beat with the `beat` JSON, as nacos-sdk-python sends every beat.
wrk.method = "PUT"
wrk.path = "/nacos/v1/ns/instance/beat?serviceName=DEFAULT_GROUP%40%40beat-bench&groupName=DEFAULT_GROUP"
  .. "&beat=%7B%22serviceName%22%3A%22DEFAULT_GROUP%40%40beat-bench%22%2C%22ip%22%3A%2210.0.0.1%22"
  .. "%2C%22port%22%3A8080%2C%22weight%22%3A1.0%2C%22ephemeral%22%3Atrue%7D"
