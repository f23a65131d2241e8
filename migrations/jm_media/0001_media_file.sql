-- A company's images and videos. The file itself lives in the media folder under `name`
-- ({companyId}-{image|video}-{filename}); a file stored again under the same name keeps
-- its row. Logos have no row: profile holds a company's logo URL.
CREATE TABLE media_file (
    id           uuid        PRIMARY KEY,
    company_id   uuid        NOT NULL,
    kind         text        NOT NULL CHECK (kind IN ('image', 'video')),
    name         text        NOT NULL UNIQUE,
    content_type text        NOT NULL,
    size         bigint      NOT NULL CHECK (size >= 0),
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX media_file_company_created_idx ON media_file (company_id, created_at DESC);
