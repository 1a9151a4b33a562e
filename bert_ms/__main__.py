from bert_ms.cli import main

raise SystemExit(main())
