"""Polish text for qlongbench tasks, written by the project.

Filler: subject + optional time + verb + object + place + optional clause. Every subject is a
masculine singular noun phrase and every verb a masculine singular past form (naprawił ...), so
gender agreement always holds; objects are written in the accusative every verb here governs.
Keys stay in the nominative: templates quote them after "dla słowa" ("for the word").
"""

from __future__ import annotations

from qlongbench.tasks.languages import FactTemplates, Filler, Language, SyntheticTemplates

_SUBJECTS = (
    "Stary młynarz", "Młody marynarz", "Wiejski nauczyciel", "Mój sąsiad", "Syn piekarza", "Zmęczony wędrowiec",
    "Nocny stróż", "Ciekawski chłopiec", "Stary flisak", "Kustosz muzeum", "Cichy student", "Zawiadowca stacji",
    "Ogrodnik", "Wędrowny grajek", "Urzędnik portowy", "Cieśla", "Emerytowany kapitan", "Bibliotekarz",
    "Nasz dziadek", "Wiejski kowal",
)
_TIMES = (
    "wczesnym rankiem", "po burzy", "przed kolacją", "w deszczowy wtorek", "zeszłej jesieni",
    "podczas festynu", "późno w nocy", "w pierwszym tygodniu wiosny", "po długim dniu",
    "w niedzielne popołudnie",
)
_VERBS = (
    "naprawił", "pomalował", "przyniósł", "opisał", "sprzedał", "pożyczył", "zmierzył", "wyczyścił",
    "sfotografował", "przeliczył", "obejrzał", "znalazł", "zapakował", "oddał", "narysował",
)
_OBJECTS = (
    "drewnianą bramę", "kosz jabłek", "zepsutą latarnię", "starą mapę wybrzeża", "niebieski rower",
    "list ze stolicy", "kuchenny zegar", "parę skórzanych butów", "sieci rybackie", "słoik miodu",
    "kościelny dzwon", "pudełko nasion", "kamienny mostek", "ciężki zimowy płaszcz", "ogrodowy płot",
    "stos gazet", "wysoką drabinę",
)
_PLACES = (
    "przy rynku", "za szkołą", "nad rzeką", "w wąskiej uliczce", "w porcie", "na wzgórzu", "w stodole",
    "pod starym dębem", "obok torów kolejowych", "na placu", "wzdłuż kanału", "na skraju lasu",
)
_CLAUSES = (
    " i nikt nie powiedział o tym ani słowa", ", bo pogoda wreszcie się zmieniła", ", choć praca szła powoli",
    ", podczas gdy psy spały w cieniu", ", gdy nad doliną sunęły chmury", ", żeby sąsiedzi mogli to zobaczyć",
    ", zanim ktokolwiek inny się obudził", ", a potem wszyscy wrócili do domu na herbatę",
)


_FACTS = FactTemplates(
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


_SYNTHETIC = SyntheticTemplates(
    words=(
        "jabłko", "gruszka", "banan", "wiśnia", "cytryna", "pomidor", "marchew", "cebula", "ser", "masło",
        "chleb", "ciasto", "cukier", "sól", "miód", "kawa", "mleko", "zupa", "okno", "stół", "krzesło", "lampa",
        "lustro", "dywan", "poduszka", "koc", "klucz", "torba", "walizka", "parasol", "płaszcz", "kurtka",
        "koszula", "but", "rękawiczka", "kapelusz", "okulary", "zegarek", "świeca", "latarnia", "dzwon",
        "drabina", "młotek", "łopata", "wiadro", "koszyk", "butelka", "kubek", "talerz", "łyżka", "widelec",
        "nóż", "książka", "ołówek", "list", "mapa", "gazeta", "rower", "łódź", "most", "wieża", "zamek",
        "ogród", "las", "łąka", "rzeka", "góra", "wyspa", "plaża", "pustynia", "chmura", "deszcz", "śnieg",
        "grzmot", "słońce", "księżyc", "gwiazda", "zima", "lato", "wiosna", "jesień", "pies", "kot", "koń",
        "krowa", "owca", "koza", "lis", "wilk", "niedźwiedź", "królik", "mysz", "sowa", "orzeł", "kruk",
        "gołąb", "kaczka", "gęś", "ryba", "żaba", "ślimak", "pszczoła", "mrówka", "pająk", "odważny",
        "spokojny", "mądry", "wesoły", "uprzejmy", "uczciwy", "szybki", "wolny", "jasny", "ciemny", "ciepły",
        "zimny", "stary", "nowy", "gorzki", "słodki", "ciężki", "lekki", "złoty", "tańczyć", "śpiewać",
        "biegać", "pływać", "czytać", "pisać", "malować", "spacerować", "szeptać", "wspinać", "budować",
        "podróżować",
    ),
    cwe_instruction='Poniżej znajduje się ponumerowana lista słów. Niektóre z tych słów pojawiają się częściej niż inne. Zapamiętaj te, które pojawiają się najczęściej.',
    cwe_question='Pytanie: Jakie jest {n} najczęściej występujących słów na powyższej liście?',
    cwe_answer_prefix='Odpowiedź: {n} słów, które pojawiają się na liście najczęściej, to:',
    fwe_instruction='Przeczytaj poniższy zaszyfrowany tekst i licz, ile razy pojawia się każde zaszyfrowane słowo. Znajdź trzy zaszyfrowane słowa, które pojawiają się najczęściej.',
    fwe_question="Pytanie: Nie podawaj żadnych wyjaśnień. Zignoruj kropki '....'. Jakie trzy słowa pojawiają się najczęściej w powyższym zaszyfrowanym tekście?",
    fwe_answer_prefix='Odpowiedź: Według powyższego zaszyfrowanego tekstu trzy najczęściej pojawiające się słowa to:',
    vt_instruction='Zapamiętaj i śledź łańcuch (lub łańcuchy) przypisań zmiennych ukryty w poniższym tekście.',
    vt_question='Pytanie: Znajdź wszystkie zmienne, którym w powyższym tekście przypisano wartość {value}.',
    vt_answer_prefix='Odpowiedź: Według łańcucha (lub łańcuchów) przypisań zmiennych w powyższym tekście wartość {value} przypisano {n} zmiennym; są to:',
)


LANGUAGE = Language(
    code="pl",
    name="Polish",
    script="Latn",
    word_separator=" ",
    list_separator=", ",
    instruction=(
        "W poniższym tekście ukryto kilka specjalnych magicznych liczb. Koniecznie je zapamiętaj. "
        "Później zadam ci pytania o te liczby."
    ),
    needle="Jedna ze specjalnych magicznych liczb dla słowa „{key}” to: {value}.",
    question="Jaka specjalna magiczna liczba dla słowa „{key}” została wymieniona w podanym tekście?",
    question_multivalue="Jakie są wszystkie specjalne magiczne liczby dla słowa „{key}” wymienione w podanym tekście?",
    question_multiquery="Jakie specjalne magiczne liczby wymieniono w podanym tekście dla następujących słów: {keys}?",
    none_rule="Jeśli tekst nie wymienia żadnej specjalnej magicznej liczby dla słowa „{key}”, odpowiedz „{none}”.",
    answer_prefix="Specjalna magiczna liczba dla słowa „{key}” wymieniona w podanym tekście to",
    none_words=("brak", "żadna", "brak liczby", "nie wymieniono"),
    keys=(
        "jabłko", "rzeka", "latarnia", "skrzypce", "port", "łąka", "kompas", "sokół", "pieprz", "lodowiec",
        "okno", "grzmot", "siodło", "sad", "kamyk", "świeca", "lustro", "kotwica", "koc", "tulipan",
        "orzech", "komin", "wstążka", "żniwa", "czajnik", "marmur", "pióro", "wyspa", "drabina", "papuga",
        "kamieniołom", "kogut", "tornister", "imbryk", "parasol", "aksamit", "gwizdek", "jogurt", "żołądź",
        "wiadro", "delfin", "cytryna", "wiśnia", "bęben", "motyl",
    ),
    filler=Filler(slots=(_SUBJECTS, _VERBS, _OBJECTS, _PLACES), times=_TIMES, clauses=_CLAUSES, time_at=1),
    fact_templates=_FACTS,
    synthetic_templates=_SYNTHETIC,
)
