"""Portuguese text for qlongbench tasks, written by the project.

Vocabulary common to European and Brazilian Portuguese where the two differ. Filler: subject +
verb (pretérito perfeito, 3rd person singular) + object + place + optional time + optional clause;
every slot carries its own article.
"""

from __future__ import annotations

from qlongbench.tasks.languages import FactTemplates, Filler, Language, SyntheticTemplates

_SUBJECTS = (
    "O velho moleiro", "Um jovem marinheiro", "A professora da aldeia", "O meu vizinho", "A filha do padeiro",
    "Um viajante cansado", "O conselho da cidade", "A nossa avó", "O guarda-noturno", "Uma criança curiosa",
    "O barqueiro do rio", "O guarda do museu", "Uma estudante calada", "O chefe da estação", "O jardineiro",
    "Um músico ambulante", "O escrivão do porto", "O carpinteiro", "Um velho capitão", "A bibliotecária",
)
_VERBS = (
    "consertou", "pintou", "carregou", "descreveu", "esqueceu", "vendeu", "mediu", "limpou", "fotografou",
    "contou", "admirou", "examinou", "devolveu", "embrulhou", "encontrou", "desenhou",
)
_OBJECTS = (
    "o portão de madeira", "um cesto de maçãs", "a lanterna quebrada", "um velho mapa da costa",
    "a bicicleta azul", "uma carta da capital", "o relógio da cozinha", "um par de botas de couro",
    "as redes de pesca", "um frasco de mel", "os sinos da igreja", "uma caixa de sementes",
    "a ponte de pedra", "um pesado casaco de inverno", "a cerca do jardim", "uma pilha de jornais",
    "a escada comprida",
)
_PLACES = (
    "perto do mercado", "atrás da escola", "junto ao rio", "na rua estreita", "no porto", "no alto da colina",
    "dentro do celeiro", "debaixo do velho carvalho", "ao lado da via férrea", "na praça",
    "ao longo do canal", "à beira da floresta",
)
_TIMES = (
    "de manhã cedo", "depois da tempestade", "antes do jantar", "numa terça-feira chuvosa",
    "no outono passado", "durante a festa", "tarde da noite", "na primeira semana da primavera",
    "depois de um longo dia", "enquanto os sinos tocavam",
)
_CLAUSES = (
    " e ninguém disse uma palavra sobre isso", " porque o tempo finalmente tinha mudado",
    ", embora o trabalho avançasse devagar", " enquanto os cães dormiam à sombra",
    " enquanto as nuvens passavam sobre o vale", " para que os vizinhos pudessem ver",
    " antes que mais alguém acordasse", " e depois todos voltaram para casa para jantar",
)


_FACTS = FactTemplates(
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


_SYNTHETIC = SyntheticTemplates(
    words=(
        "maçã", "pera", "banana", "cereja", "limão", "tomate", "cenoura", "cebola", "queijo", "manteiga", "pão",
        "bolo", "açúcar", "sal", "mel", "café", "leite", "sopa", "janela", "mesa", "cadeira", "lâmpada",
        "espelho", "tapete", "almofada", "cobertor", "chave", "bolsa", "mala", "sombrinha", "casaco", "jaqueta",
        "camisa", "sapato", "bota", "luva", "chapéu", "óculos", "relógio", "vela", "lanterna", "sino", "escada",
        "martelo", "pá", "balde", "cesta", "garrafa", "xícara", "prato", "colher", "garfo", "faca", "livro",
        "lápis", "carta", "mapa", "jornal", "bicicleta", "barco", "ponte", "torre", "castelo", "jardim",
        "floresta", "prado", "rio", "montanha", "ilha", "praia", "deserto", "nuvem", "chuva", "neve", "trovão",
        "sol", "lua", "estrela", "inverno", "verão", "primavera", "outono", "cachorro", "gato", "cavalo",
        "vaca", "ovelha", "cabra", "raposa", "lobo", "urso", "coelho", "rato", "coruja", "águia", "corvo",
        "pombo", "pato", "ganso", "peixe", "sapo", "caracol", "abelha", "formiga", "aranha", "corajoso",
        "calmo", "esperto", "alegre", "gentil", "honesto", "rápido", "lento", "claro", "escuro", "quente",
        "frio", "antigo", "novo", "amargo", "doce", "pesado", "leve", "dourado", "dançar", "cantar", "correr",
        "nadar", "ler", "escrever", "pintar", "caminhar", "sussurrar", "escalar", "construir", "viajar",
    ),
    cwe_instruction='Abaixo está uma lista numerada de palavras. Entre essas palavras, algumas aparecem com mais frequência do que outras. Memorize as que aparecem com mais frequência.',
    cwe_question='Pergunta: Quais são as {n} palavras mais frequentes na lista acima?',
    cwe_answer_prefix='Resposta: As {n} palavras que aparecem com mais frequência na lista são:',
    fwe_instruction='Leia o texto codificado a seguir e conte quantas vezes aparece cada palavra codificada. Encontre as três palavras codificadas que aparecem com mais frequência.',
    fwe_question="Pergunta: Não dê nenhuma explicação. Ignore os pontos '....'. Quais são as três palavras que aparecem com mais frequência no texto codificado acima?",
    fwe_answer_prefix='Resposta: De acordo com o texto codificado acima, as três palavras que aparecem com mais frequência são:',
    vt_instruction='Memorize e acompanhe a cadeia (ou as cadeias) de atribuição de variáveis escondida no texto a seguir.',
    vt_question='Pergunta: Encontre todas as variáveis às quais é atribuído o valor {value} no texto acima.',
    vt_answer_prefix='Resposta: De acordo com a cadeia (ou as cadeias) de atribuição de variáveis no texto acima, {n} variáveis recebem o valor {value}; são elas:',
)


LANGUAGE = Language(
    code="pt",
    name="Portuguese",
    script="Latn",
    word_separator=" ",
    list_separator=", ",
    instruction=(
        "No texto a seguir estão escondidos alguns números mágicos especiais. Memorize-os bem. "
        "Depois farei perguntas sobre esses números."
    ),
    needle="Um dos números mágicos especiais para {key} é: {value}.",
    question="Qual é o número mágico especial para {key} mencionado no texto fornecido?",
    question_multivalue="Quais são todos os números mágicos especiais para {key} mencionados no texto fornecido?",
    question_multiquery="Quais são os números mágicos especiais para {keys} mencionados no texto fornecido?",
    none_rule="Se o texto não mencionar nenhum número mágico especial para {key}, responda \"{none}\".",
    answer_prefix="O número mágico especial para {key} mencionado no texto fornecido é",
    none_words=("nenhum", "nenhum número", "não mencionado", "nada"),
    keys=(
        "maçã", "rio", "lanterna", "violino", "porto", "prado", "bússola", "falcão", "pimenta", "glaciar",
        "janela", "trovão", "sela", "pomar", "seixo", "vela", "espelho", "âncora", "cobertor", "tulipa",
        "noz", "chaminé", "fita", "colheita", "chaleira", "mármore", "pena", "ilha", "escada", "papagaio",
        "pedreira", "galo", "mochila", "bule", "guarda-chuva", "veludo", "apito", "iogurte", "bolota", "balde",
        "golfinho", "brasa", "limão", "cereja", "tambor",
    ),
    filler=Filler(slots=(_SUBJECTS, _VERBS, _OBJECTS, _PLACES), times=_TIMES, clauses=_CLAUSES),
    fact_templates=_FACTS,
    synthetic_templates=_SYNTHETIC,
)
