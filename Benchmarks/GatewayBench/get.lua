-- wrk: a GET as the signed-in bench user.
wrk.headers["Authorization"] = os.getenv("BENCH_AUTHORIZATION")
