-- Company profiles and applicant markers of one profile shard. The five databases
-- jm_profile_1..jm_profile_5 run these same files; a company's row lives in the shard of its
-- country (see the profile component's country table).
CREATE TABLE company_profile (
    company_id             uuid        PRIMARY KEY,
    company_name           text        NOT NULL CHECK (length(company_name) BETWEEN 1 AND 200),
    email                  text        NOT NULL,
    country                text        NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    city                   text,
    address                text,
    phone_number           text,
    about_us               text,
    who_we_are_looking_for text,
    logo_url               text,
    premium                boolean     NOT NULL DEFAULT false,
    -- Incremented by every change; between two copies of a company (a move between shards
    -- that failed half-way) the higher revision is the profile.
    revision               bigint      NOT NULL DEFAULT 1,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);

-- Search orders by name, case-insensitively, and may filter by country.
CREATE INDEX company_profile_name ON company_profile ((lower(company_name) COLLATE "C"));
CREATE INDEX company_profile_country ON company_profile (country);

-- A company's mark on an applicant of the JA system; it moves with the company's profile.
CREATE TABLE company_applicant_marker (
    company_id   uuid        NOT NULL REFERENCES company_profile (company_id) ON DELETE CASCADE,
    applicant_id text        NOT NULL CHECK (length(applicant_id) BETWEEN 1 AND 64),
    marker       text        NOT NULL CHECK (marker IN ('FAVORITE', 'WARNING')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (company_id, applicant_id)
);
