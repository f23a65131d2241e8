-- Development seed (SPEC 7): the profiles of the four seeded companies, with the ids, names
-- and emails of the auth seed. Their countries (VN and SG) both belong to shard 5.
INSERT INTO company_profile
    (company_id, company_name, email, country, city, address, phone_number, about_us,
     who_we_are_looking_for, premium)
SELECT company_id::uuid, company_name, email, country, city, address, phone_number, about_us,
       who_we_are_looking_for, premium
FROM (VALUES
    ('11111111-1111-4111-8111-111111111111', 'Lotus Labs', 'hr@lotuslabs.example', 'VN',
     'Ho Chi Minh City', '12 Nguyen Hue, District 1', '+842838220001',
     'A product studio building web and mobile apps for local startups.',
     'Frontend and mobile developers who like shipping small things often.', false),
    ('22222222-2222-4222-8222-222222222222', 'Mekong Works', 'hr@mekongworks.example', 'VN',
     'Can Tho', '8 Hoa Binh Avenue, Ninh Kieu', '+842923820002',
     'Software for farms and logistics along the Mekong Delta.',
     'Backend developers and QA engineers.', false),
    ('33333333-3333-4333-8333-333333333333', 'Saigon Software', 'hr@saigonsoftware.example',
     'VN', 'Ho Chi Minh City', '45 Le Loi, District 1', '+842838220003',
     'An outsourcing company delivering enterprise software since 2012.',
     'Software engineers with React, Spring Boot and Docker.', true),
    ('44444444-4444-4444-8444-444444444444', 'Lion City Data', 'hr@lioncitydata.example',
     'SG', 'Singapore', '1 Raffles Place', '+6562220004',
     'Data platforms for retail and finance in Southeast Asia.',
     'Data engineers with Python, AWS and Snowflake.', true)
) AS seed (company_id, company_name, email, country, city, address, phone_number,
           about_us, who_we_are_looking_for, premium)
ON CONFLICT (company_id) DO NOTHING;
