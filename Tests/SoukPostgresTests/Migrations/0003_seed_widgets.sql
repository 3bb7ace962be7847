INSERT INTO widgets (name, price_minor) VALUES ('sprocket', 250), ('gear', 1200);
