"""A generated fact corpus for RAG and summarization, written by the project.

Invented people, each with three attributes (the city they live in, their dog's name, their
favourite number), stated in sentences of each language; questions ask for one attribute of one
person. Templates are chosen so that no word agrees with the person's (unknown) gender and the
name stays in the nominative, which keeps every generated sentence grammatical.

Every language also carries the instructions of the rag, summ-facts and summ-doc tasks."""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cache

ATTRIBUTES = ("city", "pet", "number")
"""What a fact or question can be about."""


@dataclass(frozen=True)
class FactLanguage:
    """Per-language text of the fact corpus and of the rag / summ-facts / summ-doc prompts.
    Templates use str.format fields {name}, {city}, {pet}, {number}."""

    code: str
    """ISO 639-1 code; matches the language module of the same code."""
    given_names: tuple[str, ...]
    """Given names (any gender: no template agrees with gender)."""
    family_names: tuple[str, ...]
    """Family names that do not change with gender."""
    name_format: str
    """How a full name is written: "{given} {family}" or "{family}{given}"."""
    family_name_alone: bool
    """Whether the family name alone identifies a person in a summary (False for one-character
    Chinese surnames and the like, where only the full name counts)."""
    cities: tuple[str, ...]
    """City names as they appear in the city sentence."""
    pets: tuple[str, ...]
    """Dog names."""
    city_fact: str
    """{name} lives in {city}."""
    pet_fact: str
    """{name} has a dog called {pet}."""
    number_fact: str
    """{name}'s favourite number is {number}."""
    city_question: str
    """Asks which city {name} lives in."""
    pet_question: str
    """Asks the name of {name}'s dog."""
    number_question: str
    """Asks {name}'s favourite number."""
    rag_instruction: str
    """Answer the question from the documents; answer only."""
    question_label: str
    """"Question:" (placed before the question)."""
    answer_label: str
    """"Answer:" (starts the answer when no chat template is used)."""
    facts_instruction: str
    """summ-facts: the text mixes everyday sentences with key facts about named people."""
    facts_question: str
    """summ-facts: list every key fact about a named person, one per line."""
    summary_instruction: str
    """summ-doc: summarise the following document."""
    summary_question: str
    """summ-doc: now write a summary of the document above."""

    def fact_template(self, attribute: str) -> str:
        return {"city": self.city_fact, "pet": self.pet_fact, "number": self.number_fact}[attribute]

    def question_template(self, attribute: str) -> str:
        return {"city": self.city_question, "pet": self.pet_question, "number": self.number_question}[attribute]


@dataclass(frozen=True)
class Person:
    """An invented person and their attributes."""

    given: str
    """Given name."""
    family: str
    """Family name."""
    name: str
    """Full name as written in the text."""
    city: str
    """Where they live."""
    pet: str
    """Their dog's name."""
    number: str
    """Their favourite number (2-3 digits)."""

    def value(self, attribute: str) -> str:
        return {"city": self.city, "pet": self.pet, "number": self.number}[attribute]


@dataclass(frozen=True)
class Fact:
    """One stated fact and how to recognise it in a model's list."""

    person: Person
    """Whom it is about."""
    attribute: str
    """city, pet or number."""
    text: str
    """The sentence planted in the document."""
    terms: tuple[tuple[str, ...], ...]
    """Key terms: (name alternatives, (value,)); an item covers the fact when it has both."""


class FactCorpus:
    """Generates people, their passages and questions in one language."""

    def __init__(self, lang: FactLanguage, separator: str):
        self.lang = lang
        self.separator = separator

    def person(self, rng: random.Random, exclude: set[str] = frozenset(),
               exclude_families: set[str] = frozenset()) -> Person:
        """A new person whose full name is not in `exclude` and family name not in `exclude_families`."""
        L = self.lang
        for _ in range(1000):
            given, family = rng.choice(L.given_names), rng.choice(L.family_names)
            name = L.name_format.format(given=given, family=family)
            if name not in exclude and family not in exclude_families:
                break
        else:
            raise ValueError(f"no free name left in {L.code}")
        return Person(given, family, name, rng.choice(L.cities), rng.choice(L.pets), str(rng.randint(10, 999)))

    def fact(self, person: Person, attribute: str) -> Fact:
        text = self.lang.fact_template(attribute).format(name=person.name, **{attribute: person.value(attribute)})
        names = (person.name, person.family) if self.lang.family_name_alone else (person.name,)
        return Fact(person, attribute, text, (names, (person.value(attribute),)))

    def passage(self, person: Person, rng: random.Random) -> str:
        """Everything about one person, sentences in a seeded order."""
        attrs = list(ATTRIBUTES)
        rng.shuffle(attrs)
        return self.separator.join(self.fact(person, a).text for a in attrs)

    def question(self, person: Person, attribute: str, ilang: FactLanguage) -> str:
        """The question in the instruction language about a person of this corpus."""
        return ilang.question_template(attribute).format(name=person.name)


_EN = FactLanguage(
    code="en",
    given_names=("Amara", "Bruno", "Clara", "Dmitri", "Elena", "Felix", "Greta", "Hugo", "Ingrid", "Jonas", "Katya",
                 "Lionel", "Mira", "Nils", "Olive", "Pavel", "Quinn", "Rosa", "Silas", "Tamsin", "Ulric", "Vera",
                 "Wendell", "Yara"),
    family_names=("Ashdown", "Blackwood", "Castellan", "Dunmore", "Everly", "Fairweather", "Greenhalgh", "Hollis",
                  "Ives", "Jarrow", "Kettering", "Lockhart", "Merriweather", "Northcott", "Oakhurst", "Pendleton",
                  "Quarles", "Ravenscroft", "Sutcliffe", "Thornbury", "Underwood", "Vance", "Whitlock", "Yardley"),
    name_format="{given} {family}",
    family_name_alone=True,
    cities=("Lisbon", "Glasgow", "Toronto", "Melbourne", "Dublin", "Cardiff", "Boston", "Denver", "Auckland", "Leeds",
            "Bristol", "Ottawa", "Chicago", "Seattle", "Perth", "Belfast", "Halifax", "Memphis"),
    pets=("Biscuit", "Pepper", "Rusty", "Maple", "Juniper", "Waffles", "Ziggy", "Clover", "Bramble", "Nutmeg",
          "Pickle", "Toffee", "Sprout", "Marlow", "Ollie", "Dotty"),
    city_fact="{name} lives in {city}.",
    pet_fact="{name} has a dog named {pet}.",
    number_fact="{name}'s favourite number is {number}.",
    city_question="In which city does {name} live?",
    pet_question="What is the name of {name}'s dog?",
    number_question="What is {name}'s favourite number?",
    rag_instruction=("Answer the question based on the given documents. Only give me the answer and do not "
                     "output any other words."),
    question_label="Question:",
    answer_label="Answer:",
    facts_instruction=("The following text mixes everyday sentences with a few key facts about people who are "
                       "named. Read it carefully."),
    facts_question="List every key fact about a named person in the text above, one fact per line.",
    summary_instruction="Write a concise summary of the following document.",
    summary_question="Now write a concise summary of the document above.",
)

_DE = FactLanguage(
    code="de",
    given_names=("Anna", "Bernd", "Clara", "Dieter", "Elke", "Frank", "Gisela", "Heiko", "Ilse", "Jürgen", "Karin",
                 "Lukas", "Marta", "Norbert", "Olga", "Paul", "Renate", "Stefan", "Tanja", "Uwe", "Vera", "Walter",
                 "Yvonne", "Zoe"),
    family_names=("Bauer", "Becker", "Brandt", "Fischer", "Graf", "Hartmann", "Jung", "Keller", "Krüger", "Lange",
                  "Lorenz", "Maier", "Neumann", "Otto", "Roth", "Schäfer", "Schulz", "Sommer", "Vogel", "Wagner",
                  "Weber", "Winkler", "Wolf", "Ziegler"),
    name_format="{given} {family}",
    family_name_alone=True,
    cities=("Hamburg", "München", "Köln", "Dresden", "Leipzig", "Bremen", "Hannover", "Nürnberg", "Freiburg", "Kiel",
            "Rostock", "Münster", "Augsburg", "Bonn", "Erfurt", "Potsdam", "Mainz", "Lübeck"),
    pets=("Bello", "Rex", "Luna", "Balu", "Flocke", "Struppi", "Bruno", "Kira", "Benny", "Paula", "Emma", "Rocky",
          "Sammy", "Lotte", "Wuschel", "Fiete"),
    city_fact="{name} wohnt in {city}.",
    pet_fact="{name} hat einen Hund namens {pet}.",
    number_fact="Die Lieblingszahl von {name} ist {number}.",
    city_question="In welcher Stadt wohnt {name}?",
    pet_question="Wie heißt der Hund von {name}?",
    number_question="Was ist die Lieblingszahl von {name}?",
    rag_instruction=("Beantworte die Frage anhand der gegebenen Dokumente. Gib nur die Antwort aus und schreibe "
                     "keine weiteren Wörter."),
    question_label="Frage:",
    answer_label="Antwort:",
    facts_instruction=("Im folgenden Text stehen zwischen alltäglichen Sätzen einige wichtige Fakten über Personen, "
                       "die mit Namen genannt werden. Lies ihn aufmerksam."),
    facts_question=("Liste alle wichtigen Fakten über namentlich genannte Personen aus dem obigen Text auf, "
                    "einen Fakt pro Zeile."),
    summary_instruction="Fasse das folgende Dokument knapp zusammen.",
    summary_question="Schreibe jetzt eine knappe Zusammenfassung des obigen Dokuments.",
)

_FR = FactLanguage(
    code="fr",
    # Given names start with a consonant, so "de {name}" never needs elision (d'Amélie).
    given_names=("Bastien", "Camille", "Denis", "Fabien", "Gaëlle", "Julien", "Karine", "Léon", "Manon", "Nicolas",
                 "Pascal", "Romane", "Sylvain", "Théo", "Valérie", "Yann", "Zoé", "Lucie", "Mathis", "Chloé",
                 "Margaux", "Quentin", "Sophie", "Rémi"),
    family_names=("Arnaud", "Benoît", "Chevalier", "Dubois", "Étienne", "Fournier", "Garnier", "Henry", "Jacquet",
                  "Lambert", "Lefèvre", "Marchand", "Mercier", "Noël", "Perrin", "Renaud", "Roussel", "Simon",
                  "Tessier", "Vidal", "Barbier", "Gauthier", "Leclerc", "Moreau"),
    name_format="{given} {family}",
    family_name_alone=True,
    cities=("Lyon", "Marseille", "Toulouse", "Nantes", "Bordeaux", "Lille", "Rennes", "Grenoble", "Dijon", "Nancy",
            "Strasbourg", "Montpellier", "Reims", "Brest", "Limoges", "Annecy", "Orléans", "Rouen"),
    pets=("Filou", "Médor", "Caramel", "Rocky", "Pompon", "Gribouille", "Nougat", "Oscar", "Praline", "Réglisse",
          "Biscotte", "Titou", "Sultan", "Lola", "Milou", "Vanille"),
    city_fact="{name} habite à {city}.",
    pet_fact="{name} a un chien qui s'appelle {pet}.",
    number_fact="Le nombre préféré de {name} est {number}.",
    city_question="Dans quelle ville habite {name} ?",
    pet_question="Comment s'appelle le chien de {name} ?",
    number_question="Quel est le nombre préféré de {name} ?",
    rag_instruction=("Réponds à la question en t'appuyant sur les documents fournis. Donne uniquement la réponse, "
                     "sans aucun autre mot."),
    question_label="Question :",
    answer_label="Réponse :",
    facts_instruction=("Le texte suivant mêle des phrases ordinaires à quelques faits importants concernant des "
                       "personnes nommées. Lis-le attentivement."),
    facts_question=("Énumère tous les faits importants concernant des personnes nommées dans le texte ci-dessus, "
                    "un fait par ligne."),
    summary_instruction="Résume brièvement le document suivant.",
    summary_question="Rédige maintenant un résumé concis du document ci-dessus.",
)

_ES = FactLanguage(
    code="es",
    given_names=("Alba", "Bruno", "Carmen", "Diego", "Elena", "Fernando", "Gloria", "Hugo", "Inés", "Javier", "Lucía",
                 "Manuel", "Nuria", "Óscar", "Pilar", "Raúl", "Sara", "Tomás", "Úrsula", "Vicente", "Ximena",
                 "Yolanda", "Marcos", "Irene"),
    family_names=("Aguilar", "Blanco", "Castro", "Delgado", "Estévez", "Fuentes", "Gallego", "Herrera", "Iglesias",
                  "Jiménez", "Lozano", "Medina", "Navarro", "Ortega", "Pascual", "Quintero", "Romero", "Santos",
                  "Torres", "Vidal", "Zamora", "Cabrera", "Molina", "Rubio"),
    name_format="{given} {family}",
    family_name_alone=True,
    cities=("Sevilla", "Valencia", "Bilbao", "Zaragoza", "Málaga", "Granada", "Córdoba", "Salamanca", "Toledo",
            "Cádiz", "Oviedo", "Santander", "Murcia", "Burgos", "León", "Pamplona", "Valladolid", "Alicante"),
    pets=("Toby", "Canela", "Rocky", "Lola", "Chispa", "Bobi", "Nieve", "Trufa", "Simba", "Luna", "Pancho", "Coco",
          "Kira", "Thor", "Manchas", "Pipo"),
    city_fact="{name} vive en {city}.",
    pet_fact="{name} tiene un perro llamado {pet}.",
    number_fact="El número favorito de {name} es el {number}.",
    city_question="¿En qué ciudad vive {name}?",
    pet_question="¿Cómo se llama el perro de {name}?",
    number_question="¿Cuál es el número favorito de {name}?",
    rag_instruction=("Responde a la pregunta basándote en los documentos proporcionados. Da solo la respuesta, "
                     "sin ninguna otra palabra."),
    question_label="Pregunta:",
    answer_label="Respuesta:",
    facts_instruction=("El siguiente texto mezcla frases cotidianas con algunos datos clave sobre personas "
                       "mencionadas por su nombre. Léelo con atención."),
    facts_question=("Enumera todos los datos clave sobre personas mencionadas por su nombre en el texto anterior, "
                    "un dato por línea."),
    summary_instruction="Resume de forma concisa el siguiente documento.",
    summary_question="Ahora escribe un resumen conciso del documento anterior.",
)

_IT = FactLanguage(
    code="it",
    given_names=("Andrea", "Beatrice", "Carlo", "Daniela", "Enrico", "Federica", "Giorgio", "Ilaria", "Luca",
                 "Marta", "Nicola", "Orietta", "Paolo", "Rita", "Stefano", "Teresa", "Umberto", "Valeria", "Walter",
                 "Zeno", "Chiara", "Matteo", "Silvia", "Franco"),
    family_names=("Bianchi", "Colombo", "Conti", "De Luca", "Esposito", "Ferrari", "Galli", "Greco", "Lombardi",
                  "Mancini", "Marino", "Moretti", "Palumbo", "Rizzo", "Romano", "Russo", "Santoro", "Testa", "Villa",
                  "Fontana", "Caruso", "Gatti", "Barbieri", "Rinaldi"),
    name_format="{given} {family}",
    family_name_alone=True,
    cities=("Torino", "Genova", "Bologna", "Firenze", "Napoli", "Palermo", "Verona", "Padova", "Trieste", "Bari",
            "Parma", "Perugia", "Pisa", "Lecce", "Bergamo", "Siena", "Ancona", "Trento"),
    pets=("Fido", "Briciola", "Pippo", "Macchia", "Birba", "Tobia", "Nuvola", "Rocco", "Pallino", "Stella", "Zorro",
          "Fuffi", "Lilla", "Argo", "Bobo", "Perla"),
    city_fact="{name} abita a {city}.",
    pet_fact="{name} ha un cane di nome {pet}.",
    # No article before the number: "il 42" but "l'8", "l'11".
    number_fact="Il numero preferito di {name} è {number}.",
    city_question="In quale città abita {name}?",
    pet_question="Come si chiama il cane di {name}?",
    number_question="Qual è il numero preferito di {name}?",
    rag_instruction=("Rispondi alla domanda basandoti sui documenti forniti. Scrivi solo la risposta, senza "
                     "altre parole."),
    question_label="Domanda:",
    answer_label="Risposta:",
    facts_instruction=("Il testo seguente mescola frasi quotidiane con alcuni fatti importanti su persone indicate "
                       "per nome. Leggilo con attenzione."),
    facts_question=("Elenca tutti i fatti importanti su persone indicate per nome presenti nel testo qui sopra, "
                    "un fatto per riga."),
    summary_instruction="Riassumi in modo conciso il seguente documento.",
    summary_question="Ora scrivi un riassunto conciso del documento qui sopra.",
)

_PT = FactLanguage(
    code="pt",
    given_names=("Ana", "Bruno", "Carla", "Diogo", "Eduarda", "Fábio", "Gabriela", "Henrique", "Inês", "João",
                 "Larissa", "Marcelo", "Natália", "Otávio", "Paula", "Rafael", "Sofia", "Tiago", "Vitória", "Beatriz",
                 "Gustavo", "Helena", "Lucas", "Renata"),
    family_names=("Almeida", "Barbosa", "Cardoso", "Dias", "Esteves", "Ferreira", "Gomes", "Lopes", "Macedo",
                  "Nogueira", "Oliveira", "Pereira", "Queiroz", "Ribeiro", "Santos", "Teixeira", "Vieira", "Xavier",
                  "Moreira", "Pinto", "Rocha", "Castro", "Freitas", "Correia"),
    name_format="{given} {family}",
    family_name_alone=True,
    # Cities used without an article ("em Lisboa", never "no Porto").
    cities=("Lisboa", "Coimbra", "Braga", "Aveiro", "Faro", "Évora", "Salvador", "Curitiba", "Fortaleza", "Manaus",
            "Belém", "Natal", "Campinas", "Maceió", "Goiânia", "Florianópolis", "Sintra", "Viseu"),
    pets=("Bolinha", "Rex", "Pipoca", "Mel", "Tobias", "Faísca", "Nina", "Thor", "Pituca", "Luna", "Bidu", "Amora",
          "Fred", "Paçoca", "Lua", "Zeca"),
    city_fact="{name} mora em {city}.",
    pet_fact="{name} tem um cão chamado {pet}.",
    number_fact="O número favorito de {name} é {number}.",
    city_question="Em que cidade mora {name}?",
    pet_question="Como se chama o cão de {name}?",
    number_question="Qual é o número favorito de {name}?",
    rag_instruction=("Responda à pergunta com base nos documentos fornecidos. Dê apenas a resposta, sem nenhuma "
                     "outra palavra."),
    question_label="Pergunta:",
    answer_label="Resposta:",
    facts_instruction=("O texto a seguir mistura frases do dia a dia com alguns fatos importantes sobre pessoas "
                       "identificadas pelo nome. Leia-o com atenção."),
    facts_question=("Liste todos os fatos importantes sobre pessoas identificadas pelo nome no texto acima, "
                    "um fato por linha."),
    summary_instruction="Resuma de forma concisa o documento a seguir.",
    summary_question="Agora escreva um resumo conciso do documento acima.",
)

_NL = FactLanguage(
    code="nl",
    given_names=("Anouk", "Bram", "Daan", "Eva", "Femke", "Gijs", "Hanna", "Ivo", "Joris", "Kim", "Lotte", "Maarten",
                 "Noor", "Olaf", "Pieter", "Roos", "Sander", "Tessa", "Wouter", "Yara", "Lieke", "Thijs", "Mila",
                 "Ruben"),
    family_names=("Bakker", "Bosman", "Claassen", "Dekker", "Evers", "Groen", "Hendriks", "Jansen", "Kuipers",
                  "Lammers", "Meijer", "Mulder", "Peters", "Post", "Smit", "Timmermans", "Verhoeven", "Visser", "Vos",
                  "Willems", "Brouwer", "Koster", "Hoekstra", "Schouten"),
    name_format="{given} {family}",
    family_name_alone=True,
    cities=("Utrecht", "Leiden", "Haarlem", "Groningen", "Delft", "Zwolle", "Arnhem", "Nijmegen", "Maastricht",
            "Tilburg", "Breda", "Eindhoven", "Alkmaar", "Deventer", "Amersfoort", "Gouda", "Assen", "Middelburg"),
    pets=("Bobbie", "Max", "Rakker", "Snuf", "Pluto", "Boef", "Guus", "Saar", "Kees", "Tommie", "Bolle", "Flip",
          "Dribbel", "Loebas", "Joep", "Pien"),
    city_fact="{name} woont in {city}.",
    pet_fact="{name} heeft een hond die {pet} heet.",
    number_fact="Het lievelingsgetal van {name} is {number}.",
    city_question="In welke stad woont {name}?",
    pet_question="Hoe heet de hond van {name}?",
    number_question="Wat is het lievelingsgetal van {name}?",
    rag_instruction=("Beantwoord de vraag op basis van de gegeven documenten. Geef alleen het antwoord en gebruik "
                     "geen andere woorden."),
    question_label="Vraag:",
    answer_label="Antwoord:",
    facts_instruction=("De volgende tekst mengt alledaagse zinnen met enkele belangrijke feiten over personen die "
                       "bij naam genoemd worden. Lees hem aandachtig."),
    facts_question=("Som alle belangrijke feiten over bij naam genoemde personen uit de tekst hierboven op, "
                    "één feit per regel."),
    summary_instruction="Vat het volgende document beknopt samen.",
    summary_question="Schrijf nu een beknopte samenvatting van het document hierboven.",
)

_SV = FactLanguage(
    code="sv",
    given_names=("Anna", "Björn", "Cecilia", "David", "Elin", "Fredrik", "Greta", "Henrik", "Ida", "Johan", "Karin",
                 "Lars", "Maja", "Nils", "Olof", "Petra", "Sara", "Tove", "Ulf", "Viktor", "Agnes", "Erik",
                 "Linnea", "Oskar"),
    family_names=("Andersson", "Berg", "Dahl", "Ek", "Forsberg", "Holm", "Johansson", "Karlsson", "Lind",
                  "Lundqvist", "Nilsson", "Nyberg", "Persson", "Sandberg", "Sjöberg", "Strand", "Ström", "Wallin",
                  "Åberg", "Lindgren", "Hedlund", "Bergström", "Engström", "Falk"),
    name_format="{given} {family}",
    family_name_alone=True,
    cities=("Göteborg", "Malmö", "Uppsala", "Lund", "Umeå", "Luleå", "Kiruna", "Visby", "Örebro", "Västerås",
            "Linköping", "Norrköping", "Jönköping", "Gävle", "Karlstad", "Växjö", "Kalmar", "Sundsvall"),
    pets=("Sixten", "Tassen", "Bamse", "Ludde", "Molly", "Sigge", "Totte", "Nala", "Majken", "Zorro", "Bella",
          "Doris", "Frasse", "Kajsa", "Love", "Rufus"),
    city_fact="{name} bor i {city}.",
    pet_fact="{name} har en hund som heter {pet}.",
    number_fact="Favorittalet för {name} är {number}.",
    city_question="I vilken stad bor {name}?",
    pet_question="Vad heter hunden som {name} har?",
    number_question="Vilket är favorittalet för {name}?",
    rag_instruction="Besvara frågan utifrån de givna dokumenten. Ge bara svaret och inga andra ord.",
    question_label="Fråga:",
    answer_label="Svar:",
    facts_instruction=("Följande text blandar vardagliga meningar med några viktiga fakta om namngivna personer. "
                       "Läs den noga."),
    facts_question="Räkna upp alla viktiga fakta om namngivna personer i texten ovan, ett faktum per rad.",
    summary_instruction="Sammanfatta följande dokument kortfattat.",
    summary_question="Skriv nu en kortfattad sammanfattning av dokumentet ovan.",
)

_PL = FactLanguage(
    code="pl",
    given_names=("Anna", "Bartosz", "Celina", "Damian", "Ewa", "Filip", "Grażyna", "Henryk", "Iwona", "Jakub",
                 "Kamila", "Leszek", "Magda", "Norbert", "Olga", "Piotr", "Renata", "Szymon", "Teresa", "Wojciech",
                 "Zofia", "Marek", "Julia", "Tomasz"),
    # Family names with one form for women and men (no -ski / -ska pairs).
    family_names=("Nowak", "Wójcik", "Kowalczyk", "Woźniak", "Mazur", "Krawczyk", "Kaczmarek", "Zając", "Król",
                  "Wieczorek", "Sikora", "Baran", "Duda", "Szewczyk", "Pietrzak", "Marciniak", "Kubiak", "Wilk",
                  "Lis", "Mróz", "Michalak", "Adamczyk", "Dudek", "Walczak"),
    name_format="{given} {family}",
    family_name_alone=True,
    cities=("Kraków", "Gdańsk", "Poznań", "Wrocław", "Łódź", "Lublin", "Toruń", "Opole", "Kielce", "Rzeszów",
            "Szczecin", "Białystok", "Olsztyn", "Katowice", "Gdynia", "Bydgoszcz", "Sopot", "Zakopane"),
    pets=("Burek", "Azor", "Reksio", "Szarik", "Łatek", "Puszek", "Kropka", "Pimpek", "Fafik", "Bobik", "Saba",
          "Luna", "Maks", "Tofik", "Dropsik", "Misiek"),
    city_fact="{name} mieszka w mieście {city}.",
    pet_fact="{name} ma psa o imieniu {pet}.",
    number_fact="{name} jako swoją ulubioną liczbę podaje {number}.",
    city_question="W jakim mieście mieszka {name}?",
    pet_question="Jak ma na imię pies, którego ma {name}?",
    number_question="Jaką liczbę {name} podaje jako swoją ulubioną?",
    rag_instruction=("Odpowiedz na pytanie na podstawie podanych dokumentów. Podaj tylko odpowiedź, bez żadnych "
                     "innych słów."),
    question_label="Pytanie:",
    answer_label="Odpowiedź:",
    facts_instruction=("Poniższy tekst przeplata zwykłe, codzienne zdania z kilkoma ważnymi faktami o osobach "
                       "wymienionych z imienia i nazwiska. Przeczytaj go uważnie."),
    facts_question=("Wypisz wszystkie ważne fakty o osobach wymienionych z imienia i nazwiska w powyższym tekście, "
                    "po jednym fakcie w wierszu."),
    summary_instruction="Streść zwięźle poniższy dokument.",
    summary_question="Teraz napisz zwięzłe streszczenie powyższego dokumentu.",
)

_RU = FactLanguage(
    code="ru",
    given_names=("Анна", "Борис", "Вера", "Глеб", "Дарья", "Егор", "Жанна", "Захар", "Ирина", "Кирилл", "Лидия",
                 "Максим", "Нина", "Олег", "Полина", "Роман", "Светлана", "Тимур", "Ульяна", "Фёдор", "Юлия",
                 "Ярослав", "Алина", "Денис"),
    # Family names that are the same for women and men and never decline (-енко, -ых, -их).
    family_names=("Шевченко", "Коваленко", "Бондаренко", "Ткаченко", "Кравченко", "Мельниченко", "Савченко",
                  "Руденко", "Гриценко", "Левченко", "Марченко", "Петренко", "Лысенко", "Остапенко", "Демченко",
                  "Карпенко", "Седых", "Белых", "Черных", "Долгих", "Крутых", "Русских", "Гладких", "Толстых"),
    name_format="{given} {family}",
    family_name_alone=True,
    cities=("Казань", "Самара", "Томск", "Омск", "Пермь", "Тверь", "Курск", "Тула", "Псков", "Калуга", "Сочи",
            "Иркутск", "Воронеж", "Саратов", "Ярославль", "Смоленск", "Рязань", "Мурманск"),
    pets=("Шарик", "Бобик", "Тузик", "Дружок", "Жучка", "Барон", "Лайка", "Рекс", "Полкан", "Трезор", "Найда",
          "Пушок", "Граф", "Белка", "Джек", "Малыш"),
    # The name stays the subject (nominative) and no verb is in the gendered past tense.
    city_fact="{name} живёт в городе {city}.",
    pet_fact="{name} держит собаку по кличке {pet}.",
    number_fact="{name} называет своим любимым числом {number}.",
    city_question="В каком городе живёт {name}?",
    pet_question="Как зовут собаку, которую держит {name}?",
    number_question="Какое число {name} называет своим любимым?",
    rag_instruction=("Ответь на вопрос, опираясь на приведённые документы. Напиши только ответ, без каких-либо "
                     "других слов."),
    question_label="Вопрос:",
    answer_label="Ответ:",
    facts_instruction=("В следующем тексте обычные бытовые предложения перемешаны с несколькими важными фактами о "
                       "людях, названных по имени. Прочитай его внимательно."),
    facts_question=("Перечисли все важные факты о людях, названных по имени, из текста выше, по одному факту "
                    "в строке."),
    summary_instruction="Кратко изложи содержание следующего документа.",
    summary_question="Теперь напиши краткое изложение документа выше.",
)

_ZH = FactLanguage(
    code="zh",
    given_names=("伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明", "超",
                 "秀英", "华", "玉兰", "桂英", "志强", "建华", "晓东"),
    family_names=("王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林", "何",
                  "郭", "马", "罗", "梁", "宋", "郑", "谢"),
    name_format="{family}{given}",
    family_name_alone=False,
    cities=("杭州", "苏州", "成都", "西安", "南京", "武汉", "重庆", "天津", "青岛", "大连", "厦门", "昆明", "长沙",
            "沈阳", "哈尔滨", "济南", "郑州", "福州"),
    pets=("旺财", "小黑", "豆豆", "球球", "大黄", "阿福", "毛毛", "乐乐", "花花", "小白", "点点", "贝贝", "多多",
          "欢欢", "来福", "皮皮"),
    city_fact="{name}住在{city}。",
    pet_fact="{name}养了一只名叫{pet}的狗。",
    number_fact="{name}最喜欢的数字是{number}。",
    city_question="{name}住在哪个城市？",
    pet_question="{name}养的狗叫什么名字？",
    number_question="{name}最喜欢的数字是多少？",
    rag_instruction="请根据所给的文档回答问题。只需给出答案，不要输出任何其他内容。",
    question_label="问题：",
    answer_label="答案：",
    facts_instruction="下面的文本中，日常句子之间穿插着若干关于具名人物的关键事实。请仔细阅读。",
    facts_question="请列出上文中关于具名人物的所有关键事实，每行一条。",
    summary_instruction="请简要总结下面的文档。",
    summary_question="现在请为上面的文档写一篇简明的摘要。",
)

_JA = FactLanguage(
    code="ja",
    given_names=("健", "翔太", "大輔", "拓也", "直樹", "陽菜", "美咲", "結衣", "愛", "彩", "葵", "花子", "太郎", "次郎",
                 "和也", "恵", "真由美", "裕子", "剛", "誠", "優子", "聡", "明美", "浩"),
    family_names=("佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤", "吉田", "山田",
                  "佐々木", "山口", "松本", "井上", "木村", "林", "斎藤", "清水", "山崎", "森", "池田", "橋本"),
    name_format="{family}{given}",
    family_name_alone=False,
    cities=("札幌", "仙台", "横浜", "名古屋", "京都", "大阪", "神戸", "広島", "福岡", "熊本", "金沢", "長崎", "新潟",
            "静岡", "岡山", "那覇", "松山", "函館"),
    pets=("ポチ", "シロ", "ハチ", "コロ", "モモ", "クロ", "マル", "チビ", "ココ", "ソラ", "リン", "ハナ", "レオ", "ルナ",
          "コタロウ", "ムギ"),
    city_fact="{name}は{city}に住んでいます。",
    pet_fact="{name}は{pet}という名前の犬を飼っています。",
    number_fact="{name}の好きな数字は{number}です。",
    city_question="{name}はどの都市に住んでいますか？",
    pet_question="{name}が飼っている犬の名前は何ですか？",
    number_question="{name}の好きな数字は何ですか？",
    rag_instruction="与えられた文書に基づいて質問に答えてください。答えだけを出力し、それ以外の言葉は書かないでください。",
    question_label="質問：",
    answer_label="答え：",
    facts_instruction="次の文章には、日常的な文の間に、名前の挙がった人物に関する重要な事実がいくつか含まれています。注意して読んでください。",
    facts_question="上の文章に出てくる、名前の挙がった人物に関する重要な事実をすべて、1行に1つずつ挙げてください。",
    summary_instruction="次の文書を簡潔に要約してください。",
    summary_question="では、上の文書の簡潔な要約を書いてください。",
)

_KO = FactLanguage(
    code="ko",
    given_names=("민준", "서연", "도윤", "지우", "하준", "서윤", "예준", "하은", "시우", "지민", "주원", "수아", "지호",
                 "채원", "건우", "지유", "우진", "은서", "현우", "다은", "선우", "예린", "유준", "소율"),
    family_names=("김", "이", "박", "최", "정", "강", "조", "윤", "장", "임", "한", "오", "서", "신", "권", "황", "안",
                  "송", "류", "홍", "전", "고", "문", "양"),
    name_format="{family}{given}",
    family_name_alone=False,
    cities=("서울", "부산", "인천", "대구", "대전", "광주", "울산", "수원", "전주", "춘천", "청주", "포항", "제주",
            "강릉", "목포", "여수", "경주", "안동"),
    # Dog names end in a vowel, so "라는" is always the right particle.
    pets=("초코", "보리", "코코", "해피", "뽀삐", "루루", "두부", "나비", "마루", "쿠키", "모카", "토리", "미미", "하루",
          "누리", "호두"),
    # "씨" after the name fixes the particle (는/가) whatever the name's last syllable.
    city_fact="{name} 씨는 {city}에 삽니다.",
    pet_fact="{name} 씨는 {pet}라는 개를 키웁니다.",
    number_fact="{name} 씨가 가장 좋아하는 숫자는 {number}입니다.",
    city_question="{name} 씨는 어느 도시에 삽니까?",
    pet_question="{name} 씨가 키우는 개의 이름은 무엇입니까?",
    number_question="{name} 씨가 가장 좋아하는 숫자는 무엇입니까?",
    rag_instruction="주어진 문서를 바탕으로 질문에 답하십시오. 답만 쓰고 다른 말은 쓰지 마십시오.",
    question_label="질문:",
    answer_label="답:",
    facts_instruction=("다음 글에는 일상적인 문장들 사이에 이름이 밝혀진 사람들에 관한 중요한 사실이 몇 가지 섞여 "
                       "있습니다. 주의 깊게 읽으십시오."),
    facts_question="위 글에 나오는, 이름이 밝혀진 사람들에 관한 중요한 사실을 모두 한 줄에 하나씩 나열하십시오.",
    summary_instruction="다음 문서를 간결하게 요약하십시오.",
    summary_question="이제 위 문서의 간결한 요약을 쓰십시오.",
)

_HI = FactLanguage(
    code="hi",
    given_names=("अनिल", "सुनीता", "राजेश", "प्रिया", "विक्रम", "मीना", "अर्जुन", "कविता", "रोहित", "नेहा", "संजय",
                 "पूजा", "आकाश", "दीपिका", "मनोज", "रेखा", "अमित", "सीमा", "विवेक", "अंजलि", "राहुल", "ज्योति",
                 "सुरेश", "गीता"),
    family_names=("शर्मा", "वर्मा", "पटेल", "गुप्ता", "सिंह", "जोशी", "मेहता", "राव", "अग्रवाल", "चौहान", "मिश्रा",
                  "पांडे", "त्रिपाठी", "सक्सेना", "यादव", "नायर", "कपूर", "मल्होत्रा", "भाटिया", "शुक्ला", "दुबे",
                  "तिवारी", "रस्तोगी", "श्रीवास्तव"),
    name_format="{given} {family}",
    family_name_alone=True,
    cities=("पुणे", "जयपुर", "भोपाल", "नागपुर", "इंदौर", "लखनऊ", "कानपुर", "पटना", "सूरत", "आगरा", "वाराणसी",
            "अमृतसर", "देहरादून", "रांची", "कोच्चि", "मैसूर", "उदयपुर", "शिमला"),
    pets=("मोती", "शेरू", "टॉमी", "राजा", "बादल", "चीकू", "भोला", "कालू", "ब्रूनो", "जैकी", "गोलू", "बिट्टू", "लकी",
          "रॉकी", "डॉली", "पिंटू"),
    # Honorific plural ("रहते हैं") does not show the person's gender.
    city_fact="{name} {city} में रहते हैं।",
    pet_fact="{name} के कुत्ते का नाम {pet} है।",
    number_fact="{name} की पसंदीदा संख्या {number} है।",
    city_question="{name} किस शहर में रहते हैं?",
    pet_question="{name} के कुत्ते का नाम क्या है?",
    number_question="{name} की पसंदीदा संख्या क्या है?",
    rag_instruction="दिए गए दस्तावेज़ों के आधार पर प्रश्न का उत्तर दीजिए। केवल उत्तर लिखिए, कोई और शब्द नहीं।",
    question_label="प्रश्न:",
    answer_label="उत्तर:",
    facts_instruction=("नीचे दिए गए पाठ में रोज़मर्रा के वाक्यों के बीच नाम से बताए गए लोगों के बारे में कुछ "
                       "महत्वपूर्ण तथ्य हैं। इसे ध्यान से पढ़िए।"),
    facts_question="ऊपर दिए गए पाठ में नाम से बताए गए लोगों के बारे में सभी महत्वपूर्ण तथ्य लिखिए, हर पंक्ति में एक तथ्य।",
    summary_instruction="नीचे दिए गए दस्तावेज़ का संक्षिप्त सारांश लिखिए।",
    summary_question="अब ऊपर दिए गए दस्तावेज़ का संक्षिप्त सारांश लिखिए।",
)

FACT_LANGUAGES: dict[str, FactLanguage] = {
    fl.code: fl for fl in (_EN, _DE, _FR, _ES, _IT, _PT, _NL, _SV, _PL, _RU, _ZH, _JA, _KO, _HI)
}
"""Languages the fact corpus and the rag / summ-* prompts are written in."""


@cache
def fact_languages() -> tuple[str, ...]:
    """Codes with fact text that also have a language module (for the word separator and filler)."""
    from qlongbench.tasks.languages import languages

    return tuple(code for code in languages() if code in FACT_LANGUAGES)


def get_fact_language(code: str) -> FactLanguage:
    if code not in FACT_LANGUAGES:
        raise KeyError(f"no fact text in {code!r}; written in: {', '.join(FACT_LANGUAGES)}")
    return FACT_LANGUAGES[code]
