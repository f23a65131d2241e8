-- The skill tag catalogue. A name is unique whatever its case: the unique index on
-- lower(name) lets only one of two concurrent creates of "react" and "React" win.
CREATE TABLE skill_tag (
    id         uuid        PRIMARY KEY,
    name       text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 50),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX skill_tag_lower_name_key ON skill_tag (lower(name));
