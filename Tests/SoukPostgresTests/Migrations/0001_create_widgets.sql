-- The first migration of the library's test fixture.
CREATE TABLE widgets (
    id bigserial PRIMARY KEY,
    name text NOT NULL UNIQUE
);
