"""fmnist over HTTP: `fmnist serve` (the classify API: POST /classify, GET /health, the upload page at GET /, the
OpenAPI description) and `fmnist live --serve` (the preview page, /stream, /status, /seen.png), on one Starlette
app served by uvicorn.

    app             the app from its parts: the classify routes, the live routes, or both
    classify_routes POST /classify, GET /health, GET / and GET /openapi.json
    live_routes     the live preview: its page, the MJPEG stream, the status and the image the model saw
    workers         inference off the event loop: one classifier (one onnxruntime session) per worker thread
    limits          what every request is held to: the Host a loopback bind answers, the requests served at
                    once, the body's size and time
    protocol        uvicorn's HTTP/1.1 protocol with a deadline for each request's head (idle and slow clients)
    replies         the JSON answers and refusals: strict JSON, {"error": ...} with its status
    openapi         the API's OpenAPI description
    server          the socket bound, uvicorn started in a thread and stopped
    served          what the CLI runs: the API until Ctrl-C or SIGTERM, or the live loop with its server

This layer sits on the runtime and its video loop; it imports neither TensorFlow nor anything above it.
"""
