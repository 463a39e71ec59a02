-- Sample schema and data for trying pgincr (loaded into database "shop" by 10-pgincr.sh).
-- Files in sub-folders of docker-entrypoint-initdb.d are not run by the entrypoint itself.
CREATE TABLE customer (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email      text NOT NULL UNIQUE,
  name       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE product (
  sku        text PRIMARY KEY,
  title      text NOT NULL,
  price      numeric(10,2) NOT NULL CHECK (price >= 0),
  tags       text[] NOT NULL DEFAULT '{}',
  attributes jsonb
);

CREATE TABLE orders (
  id          bigserial PRIMARY KEY,
  customer_id bigint NOT NULL REFERENCES customer(id),
  placed_at   timestamptz NOT NULL DEFAULT now(),
  note        text
);

CREATE TABLE order_line (
  order_id bigint NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
  line_no  int NOT NULL,
  sku      text NOT NULL REFERENCES product(sku),
  quantity int NOT NULL CHECK (quantity > 0),
  PRIMARY KEY (order_id, line_no)
);

INSERT INTO customer (email, name) VALUES
  ('ada@example.org', 'Ada Lovelace'),
  ('edgar@example.org', 'Edgar F. Codd'),
  ('grace@example.org', 'Grace O''Hopper');

INSERT INTO product (sku, title, price, tags, attributes) VALUES
  ('BK-001', 'The Art of PostgreSQL', 39.00, '{book,sql}', '{"pages": 460}'),
  ('MG-042', 'Elephant mug', 12.50, '{mug}', '{"colour": "blue", "ml": 350}'),
  ('ST-007', 'Sticker "WAL"', 1.99, '{}', NULL);

INSERT INTO orders (customer_id, note) VALUES (1, 'first order'), (2, E'line one\nline two');
INSERT INTO order_line VALUES (1, 1, 'BK-001', 1), (1, 2, 'MG-042', 2), (2, 1, 'ST-007', 10);
