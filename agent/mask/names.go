package mask

// firstNames and lastNames feed fake-name and fake-email. ASCII letters only: fakeEmail
// lower-cases them bytewise.
var firstNames = [...]string{
	"Ada", "Aisha", "Alan", "Amara", "Ana", "Arjun", "Astrid", "Ben",
	"Bianca", "Carlos", "Chen", "Chloe", "Daniel", "Dara", "Diego", "Elena",
	"Emeka", "Emma", "Farah", "Felix", "Grace", "Hana", "Hugo", "Ines",
	"Ivan", "Jamal", "Jana", "Jonas", "Julia", "Kai", "Kenji", "Lara",
	"Leila", "Liam", "Lucia", "Malik", "Maria", "Mateo", "Mei", "Milan",
	"Nadia", "Nina", "Noah", "Olga", "Omar", "Priya", "Quinn", "Rafael",
	"Rosa", "Sami", "Sara", "Sofia", "Tariq", "Tomas", "Uma", "Vera",
	"Victor", "Wei", "Yara", "Yusuf", "Zara", "Zoe", "Ingrid", "Pablo",
}

var lastNames = [...]string{
	"Abbott", "Adeyemi", "Alvarez", "Andersen", "Baker", "Banerjee", "Becker", "Brennan",
	"Castro", "Chowdhury", "Costa", "Dalton", "Dubois", "Eriksen", "Fischer", "Fontaine",
	"Garcia", "Gomez", "Haddad", "Hansen", "Hoffmann", "Ibrahim", "Ito", "Jensen",
	"Kaur", "Khan", "Kim", "Kowalski", "Larsen", "Lopez", "Mbeki", "Meyer",
	"Moreau", "Mueller", "Nakamura", "Novak", "Okafor", "Olsen", "Park", "Patel",
	"Petrov", "Quinto", "Rahman", "Reyes", "Rossi", "Santos", "Schmidt", "Silva",
	"Singh", "Sato", "Tanaka", "Torres", "Ueda", "Varga", "Wagner", "Walsh",
	"Weber", "Xu", "Yamada", "Yilmaz", "Zhang", "Ziegler", "Novotny", "Haugen",
}
