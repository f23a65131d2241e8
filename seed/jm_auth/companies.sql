-- Development seed (SPEC 7): two free and two premium companies, ACTIVE, with the same ids
-- as the profile seed. Passwords are Argon2id (m=19456 KiB, t=2, p=1) hashes of these
-- development passwords, for local use only:
--   hr@lotuslabs.example        Company1!   Lotus Labs        free
--   hr@mekongworks.example      Company2!   Mekong Works      free
--   hr@saigonsoftware.example   Company3!   Saigon Software   premium until 2030-01-01
--   hr@lioncitydata.example     Company4!   Lion City Data    premium until 2030-01-01
INSERT INTO account (id, email, company_name, password_hash, status, premium_expires_at)
VALUES
    ('11111111-1111-4111-8111-111111111111', 'hr@lotuslabs.example', 'Lotus Labs',
     '$argon2id$v=19$m=19456,t=2,p=1$gk0zcfHsSSQnO2tzU5bTIw$xo2rJnd+FJiNZGOQL0Uw7g917+jH+WVLximEBDPxomI',
     'ACTIVE', NULL),
    ('22222222-2222-4222-8222-222222222222', 'hr@mekongworks.example', 'Mekong Works',
     '$argon2id$v=19$m=19456,t=2,p=1$13vmsc1LzMYMAMzuBfTZYg$skV2f4E3dhXld+0VseJWWIPdCktyqHwj6sJtKcJReAk',
     'ACTIVE', NULL),
    ('33333333-3333-4333-8333-333333333333', 'hr@saigonsoftware.example', 'Saigon Software',
     '$argon2id$v=19$m=19456,t=2,p=1$cJYzjFbaMrBX4sj4a6248g$DSOiSwuyjMEH2596UhqxTzBg/r6aySD/uUZl4Z2LvpU',
     'ACTIVE', '2030-01-01T00:00:00Z'),
    ('44444444-4444-4444-8444-444444444444', 'hr@lioncitydata.example', 'Lion City Data',
     '$argon2id$v=19$m=19456,t=2,p=1$yeto9muNTnme78KtDolPgw$//2ZWbKkSFzEnEOjtRsKk+hIrE42yw1IVbw4SKEVABQ',
     'ACTIVE', '2030-01-01T00:00:00Z')
ON CONFLICT DO NOTHING;
