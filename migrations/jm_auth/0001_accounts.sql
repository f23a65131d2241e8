-- Accounts of the auth service: one row per company. A registration stays PENDING until
-- profile confirms it (JM_COMPANY_REGISTRATION_REPLY); a PENDING account cannot log in.
CREATE TABLE account (
    id                 uuid        PRIMARY KEY,
    email              text        NOT NULL CHECK (length(email) <= 254),
    company_name       text        NOT NULL,
    password_hash      text        NOT NULL,
    status             text        NOT NULL DEFAULT 'PENDING'
                                   CHECK (status IN ('PENDING', 'ACTIVE')),
    premium_expires_at timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- Emails are unique whatever their case.
CREATE UNIQUE INDEX account_email_unique ON account (lower(email));

-- The subscription job looks for premium accounts about to expire.
CREATE INDEX account_premium_expiry ON account (premium_expires_at)
    WHERE premium_expires_at IS NOT NULL;
