-- wrk: POST /v1/orders with a three-line order, as the signed-in bench user.
wrk.method = "POST"
wrk.body = '{"currency":"EUR","items":[{"sku":"BOOK-1","quantity":2,"unitPrice":"1999"},{"sku":"PEN-BLK","quantity":1,"unitPrice":"250"},{"sku":"NOTEBOOK-A5","quantity":3,"unitPrice":"799"}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = os.getenv("BENCH_AUTHORIZATION")
