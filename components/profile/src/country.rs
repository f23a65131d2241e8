//! Countries and their shards: every ISO 3166-1 alpha-2 code with its English name, and the
//! profile shard that holds the companies of that country. A country is accepted as a code or
//! an English name, ignoring case; the code is what the profile stores.
//!
//! Shards follow the UN M49 regions: 1 Africa, 2 Europe, 3 the Americas, 4 East Asia, and 5 the
//! rest (South and Southeast Asia, Oceania, Western and Central Asia, Antarctica).

/// The number of profile shards.
pub const SHARDS: u8 = 5;

/// A known country.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Country {
    /// The ISO 3166-1 alpha-2 code.
    pub code: &'static str,
    /// The English short name of ISO 3166-1.
    pub name: &'static str,
    /// The profile shard (1..=5) holding companies of this country.
    pub shard: u8,
}

/// Finds a country by alpha-2 code or English name, ignoring case and surrounding spaces.
pub fn find(text: &str) -> Option<Country> {
    let wanted = text.trim();
    if wanted.is_empty() {
        return None;
    }
    let by_code = |code: &str| {
        COUNTRIES
            .iter()
            .find(|(c, _, _)| c.eq_ignore_ascii_case(code))
    };
    let found = if wanted.len() == 2 {
        by_code(wanted)
    } else {
        let lower = wanted.to_lowercase();
        let named = COUNTRIES
            .iter()
            .find(|(_, name, _)| name.to_lowercase() == lower);
        named.or_else(|| {
            let alias = ALIASES
                .iter()
                .find(|(name, _)| name.to_lowercase() == lower)?;
            by_code(alias.1)
        })
    };
    found.map(|&(code, name, shard)| Country { code, name, shard })
}

/// Every ISO 3166-1 country: alpha-2 code, English short name, shard.
static COUNTRIES: [(&str, &str, u8); 249] = [
    ("AD", "Andorra", 2),
    ("AE", "United Arab Emirates", 5),
    ("AF", "Afghanistan", 5),
    ("AG", "Antigua and Barbuda", 3),
    ("AI", "Anguilla", 3),
    ("AL", "Albania", 2),
    ("AM", "Armenia", 5),
    ("AO", "Angola", 1),
    ("AQ", "Antarctica", 5),
    ("AR", "Argentina", 3),
    ("AS", "American Samoa", 5),
    ("AT", "Austria", 2),
    ("AU", "Australia", 5),
    ("AW", "Aruba", 3),
    ("AX", "Åland Islands", 2),
    ("AZ", "Azerbaijan", 5),
    ("BA", "Bosnia and Herzegovina", 2),
    ("BB", "Barbados", 3),
    ("BD", "Bangladesh", 5),
    ("BE", "Belgium", 2),
    ("BF", "Burkina Faso", 1),
    ("BG", "Bulgaria", 2),
    ("BH", "Bahrain", 5),
    ("BI", "Burundi", 1),
    ("BJ", "Benin", 1),
    ("BL", "Saint Barthélemy", 3),
    ("BM", "Bermuda", 3),
    ("BN", "Brunei Darussalam", 5),
    ("BO", "Bolivia, Plurinational State of", 3),
    ("BQ", "Bonaire, Sint Eustatius and Saba", 3),
    ("BR", "Brazil", 3),
    ("BS", "Bahamas", 3),
    ("BT", "Bhutan", 5),
    ("BV", "Bouvet Island", 3),
    ("BW", "Botswana", 1),
    ("BY", "Belarus", 2),
    ("BZ", "Belize", 3),
    ("CA", "Canada", 3),
    ("CC", "Cocos (Keeling) Islands", 5),
    ("CD", "Congo, The Democratic Republic of the", 1),
    ("CF", "Central African Republic", 1),
    ("CG", "Congo", 1),
    ("CH", "Switzerland", 2),
    ("CI", "Côte d'Ivoire", 1),
    ("CK", "Cook Islands", 5),
    ("CL", "Chile", 3),
    ("CM", "Cameroon", 1),
    ("CN", "China", 4),
    ("CO", "Colombia", 3),
    ("CR", "Costa Rica", 3),
    ("CU", "Cuba", 3),
    ("CV", "Cabo Verde", 1),
    ("CW", "Curaçao", 3),
    ("CX", "Christmas Island", 5),
    ("CY", "Cyprus", 5),
    ("CZ", "Czechia", 2),
    ("DE", "Germany", 2),
    ("DJ", "Djibouti", 1),
    ("DK", "Denmark", 2),
    ("DM", "Dominica", 3),
    ("DO", "Dominican Republic", 3),
    ("DZ", "Algeria", 1),
    ("EC", "Ecuador", 3),
    ("EE", "Estonia", 2),
    ("EG", "Egypt", 1),
    ("EH", "Western Sahara", 1),
    ("ER", "Eritrea", 1),
    ("ES", "Spain", 2),
    ("ET", "Ethiopia", 1),
    ("FI", "Finland", 2),
    ("FJ", "Fiji", 5),
    ("FK", "Falkland Islands (Malvinas)", 3),
    ("FM", "Micronesia, Federated States of", 5),
    ("FO", "Faroe Islands", 2),
    ("FR", "France", 2),
    ("GA", "Gabon", 1),
    ("GB", "United Kingdom", 2),
    ("GD", "Grenada", 3),
    ("GE", "Georgia", 5),
    ("GF", "French Guiana", 3),
    ("GG", "Guernsey", 2),
    ("GH", "Ghana", 1),
    ("GI", "Gibraltar", 2),
    ("GL", "Greenland", 3),
    ("GM", "Gambia", 1),
    ("GN", "Guinea", 1),
    ("GP", "Guadeloupe", 3),
    ("GQ", "Equatorial Guinea", 1),
    ("GR", "Greece", 2),
    ("GS", "South Georgia and the South Sandwich Islands", 3),
    ("GT", "Guatemala", 3),
    ("GU", "Guam", 5),
    ("GW", "Guinea-Bissau", 1),
    ("GY", "Guyana", 3),
    ("HK", "Hong Kong", 4),
    ("HM", "Heard Island and McDonald Islands", 5),
    ("HN", "Honduras", 3),
    ("HR", "Croatia", 2),
    ("HT", "Haiti", 3),
    ("HU", "Hungary", 2),
    ("ID", "Indonesia", 5),
    ("IE", "Ireland", 2),
    ("IL", "Israel", 5),
    ("IM", "Isle of Man", 2),
    ("IN", "India", 5),
    ("IO", "British Indian Ocean Territory", 1),
    ("IQ", "Iraq", 5),
    ("IR", "Iran, Islamic Republic of", 5),
    ("IS", "Iceland", 2),
    ("IT", "Italy", 2),
    ("JE", "Jersey", 2),
    ("JM", "Jamaica", 3),
    ("JO", "Jordan", 5),
    ("JP", "Japan", 4),
    ("KE", "Kenya", 1),
    ("KG", "Kyrgyzstan", 5),
    ("KH", "Cambodia", 5),
    ("KI", "Kiribati", 5),
    ("KM", "Comoros", 1),
    ("KN", "Saint Kitts and Nevis", 3),
    ("KP", "Korea, Democratic People's Republic of", 4),
    ("KR", "Korea, Republic of", 4),
    ("KW", "Kuwait", 5),
    ("KY", "Cayman Islands", 3),
    ("KZ", "Kazakhstan", 5),
    ("LA", "Lao People's Democratic Republic", 5),
    ("LB", "Lebanon", 5),
    ("LC", "Saint Lucia", 3),
    ("LI", "Liechtenstein", 2),
    ("LK", "Sri Lanka", 5),
    ("LR", "Liberia", 1),
    ("LS", "Lesotho", 1),
    ("LT", "Lithuania", 2),
    ("LU", "Luxembourg", 2),
    ("LV", "Latvia", 2),
    ("LY", "Libya", 1),
    ("MA", "Morocco", 1),
    ("MC", "Monaco", 2),
    ("MD", "Moldova, Republic of", 2),
    ("ME", "Montenegro", 2),
    ("MF", "Saint Martin (French part)", 3),
    ("MG", "Madagascar", 1),
    ("MH", "Marshall Islands", 5),
    ("MK", "North Macedonia", 2),
    ("ML", "Mali", 1),
    ("MM", "Myanmar", 5),
    ("MN", "Mongolia", 4),
    ("MO", "Macao", 4),
    ("MP", "Northern Mariana Islands", 5),
    ("MQ", "Martinique", 3),
    ("MR", "Mauritania", 1),
    ("MS", "Montserrat", 3),
    ("MT", "Malta", 2),
    ("MU", "Mauritius", 1),
    ("MV", "Maldives", 5),
    ("MW", "Malawi", 1),
    ("MX", "Mexico", 3),
    ("MY", "Malaysia", 5),
    ("MZ", "Mozambique", 1),
    ("NA", "Namibia", 1),
    ("NC", "New Caledonia", 5),
    ("NE", "Niger", 1),
    ("NF", "Norfolk Island", 5),
    ("NG", "Nigeria", 1),
    ("NI", "Nicaragua", 3),
    ("NL", "Netherlands", 2),
    ("NO", "Norway", 2),
    ("NP", "Nepal", 5),
    ("NR", "Nauru", 5),
    ("NU", "Niue", 5),
    ("NZ", "New Zealand", 5),
    ("OM", "Oman", 5),
    ("PA", "Panama", 3),
    ("PE", "Peru", 3),
    ("PF", "French Polynesia", 5),
    ("PG", "Papua New Guinea", 5),
    ("PH", "Philippines", 5),
    ("PK", "Pakistan", 5),
    ("PL", "Poland", 2),
    ("PM", "Saint Pierre and Miquelon", 3),
    ("PN", "Pitcairn", 5),
    ("PR", "Puerto Rico", 3),
    ("PS", "Palestine, State of", 5),
    ("PT", "Portugal", 2),
    ("PW", "Palau", 5),
    ("PY", "Paraguay", 3),
    ("QA", "Qatar", 5),
    ("RE", "Réunion", 1),
    ("RO", "Romania", 2),
    ("RS", "Serbia", 2),
    ("RU", "Russian Federation", 2),
    ("RW", "Rwanda", 1),
    ("SA", "Saudi Arabia", 5),
    ("SB", "Solomon Islands", 5),
    ("SC", "Seychelles", 1),
    ("SD", "Sudan", 1),
    ("SE", "Sweden", 2),
    ("SG", "Singapore", 5),
    ("SH", "Saint Helena, Ascension and Tristan da Cunha", 1),
    ("SI", "Slovenia", 2),
    ("SJ", "Svalbard and Jan Mayen", 2),
    ("SK", "Slovakia", 2),
    ("SL", "Sierra Leone", 1),
    ("SM", "San Marino", 2),
    ("SN", "Senegal", 1),
    ("SO", "Somalia", 1),
    ("SR", "Suriname", 3),
    ("SS", "South Sudan", 1),
    ("ST", "Sao Tome and Principe", 1),
    ("SV", "El Salvador", 3),
    ("SX", "Sint Maarten (Dutch part)", 3),
    ("SY", "Syrian Arab Republic", 5),
    ("SZ", "Eswatini", 1),
    ("TC", "Turks and Caicos Islands", 3),
    ("TD", "Chad", 1),
    ("TF", "French Southern Territories", 1),
    ("TG", "Togo", 1),
    ("TH", "Thailand", 5),
    ("TJ", "Tajikistan", 5),
    ("TK", "Tokelau", 5),
    ("TL", "Timor-Leste", 5),
    ("TM", "Turkmenistan", 5),
    ("TN", "Tunisia", 1),
    ("TO", "Tonga", 5),
    ("TR", "Türkiye", 5),
    ("TT", "Trinidad and Tobago", 3),
    ("TV", "Tuvalu", 5),
    ("TW", "Taiwan, Province of China", 4),
    ("TZ", "Tanzania, United Republic of", 1),
    ("UA", "Ukraine", 2),
    ("UG", "Uganda", 1),
    ("UM", "United States Minor Outlying Islands", 5),
    ("US", "United States", 3),
    ("UY", "Uruguay", 3),
    ("UZ", "Uzbekistan", 5),
    ("VA", "Holy See (Vatican City State)", 2),
    ("VC", "Saint Vincent and the Grenadines", 3),
    ("VE", "Venezuela, Bolivarian Republic of", 3),
    ("VG", "Virgin Islands, British", 3),
    ("VI", "Virgin Islands, U.S.", 3),
    ("VN", "Viet Nam", 5),
    ("VU", "Vanuatu", 5),
    ("WF", "Wallis and Futuna", 5),
    ("WS", "Samoa", 5),
    ("YE", "Yemen", 5),
    ("YT", "Mayotte", 1),
    ("ZA", "South Africa", 1),
    ("ZM", "Zambia", 1),
    ("ZW", "Zimbabwe", 1),
];

/// Other English names in common use, with the code they stand for.
static ALIASES: &[(&str, &str)] = &[
    ("UAE", "AE"),
    ("Aland Islands", "AX"),
    ("Saint Barthelemy", "BL"),
    ("Brunei", "BN"),
    ("Bolivia", "BO"),
    ("Democratic Republic of the Congo", "CD"),
    ("DR Congo", "CD"),
    ("Republic of the Congo", "CG"),
    ("Ivory Coast", "CI"),
    ("Cote d'Ivoire", "CI"),
    ("Cape Verde", "CV"),
    ("Curacao", "CW"),
    ("Czech Republic", "CZ"),
    ("Falkland Islands", "FK"),
    ("Micronesia", "FM"),
    ("Great Britain", "GB"),
    ("United Kingdom of Great Britain and Northern Ireland", "GB"),
    ("UK", "GB"),
    ("Iran", "IR"),
    ("North Korea", "KP"),
    ("South Korea", "KR"),
    ("Korea", "KR"),
    ("Laos", "LA"),
    ("Moldova", "MD"),
    ("Macedonia", "MK"),
    ("Burma", "MM"),
    ("Macau", "MO"),
    ("The Netherlands", "NL"),
    ("Holland", "NL"),
    ("Palestine", "PS"),
    ("Reunion", "RE"),
    ("Russia", "RU"),
    ("Syria", "SY"),
    ("Swaziland", "SZ"),
    ("East Timor", "TL"),
    ("Turkey", "TR"),
    ("Taiwan", "TW"),
    ("Tanzania", "TZ"),
    ("United States of America", "US"),
    ("USA", "US"),
    ("Vatican City", "VA"),
    ("Holy See", "VA"),
    ("Venezuela", "VE"),
    ("British Virgin Islands", "VG"),
    ("US Virgin Islands", "VI"),
    ("Vietnam", "VN"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_are_found_ignoring_case() {
        assert_eq!(find("vn").map(|c| c.code), Some("VN"));
        assert_eq!(find(" Viet Nam ").map(|c| c.code), Some("VN"));
        assert_eq!(find("VIETNAM").map(|c| (c.code, c.shard)), Some(("VN", 5)));
        assert_eq!(find("singapore").map(|c| c.shard), Some(5));
        assert_eq!(find("côte d'ivoire").map(|c| c.shard), Some(1));
        assert!(find("Atlantis").is_none() && find("XX").is_none() && find("").is_none());
    }

    #[test]
    fn shards_follow_the_regions() {
        let shard = |code: &str| find(code).map(|c| c.shard);
        assert_eq!(shard("NG"), Some(1));
        assert_eq!(shard("France"), Some(2));
        assert_eq!(shard("Brazil"), Some(3));
        assert_eq!(shard("JP"), Some(4));
        assert_eq!(shard("AU"), Some(5));
        assert_eq!(shard("AQ"), Some(5));
    }

    #[test]
    fn the_table_has_every_code_once_and_aliases_point_at_codes() {
        assert_eq!(COUNTRIES.len(), 249);
        let mut codes: Vec<_> = COUNTRIES.iter().map(|(c, _, _)| *c).collect();
        codes.dedup();
        assert_eq!(codes.len(), 249, "codes are sorted and unique");
        assert!(COUNTRIES.iter().all(|(_, _, s)| (1..=SHARDS).contains(s)));
        assert!(ALIASES.iter().all(|(_, code)| find(code).is_some()));
    }
}
